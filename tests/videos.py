"""Small video and MetaImage/NRRD files made in the tests (PyAV and SimpleITK), with what an
import should find in them."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

# (codec, container format, pixel format) pairs the PyAV wheel encodes.
MP4_CODECS = [("mpeg4", "mp4", "yuv420p"), ("libx264", "mp4", "yuv420p")]
AVI_CODECS = [("mjpeg", "avi", "yuvj420p"), ("mpeg4", "avi", "yuv420p")]


def echo_frames(frames: int = 12, height: int = 48, width: int = 64) -> np.ndarray:
    """(t, y, x) uint8 grey frames: a bright blob that grows and shrinks (a beating 'ventricle')
    on a ramp, so frames differ and lossy codecs keep them recognisable."""
    yy, xx = np.mgrid[:height, :width]
    out = np.empty((frames, height, width), np.uint8)
    for t in range(frames):
        radius = 8 + 6 * np.sin(2 * np.pi * t / frames)
        blob = (yy - height / 2) ** 2 + (xx - width / 2) ** 2 < radius**2
        out[t] = np.where(blob, 220, 40 + xx * 60 // width)
    return out


def write_video(
    path: Path,
    frames: np.ndarray,
    *,
    codec: str = "mpeg4",
    container: str = "mp4",
    pix_fmt: str = "yuv420p",
    rate: Fraction | int = 25,
) -> Path:
    """Encode grey (t, y, x) uint8 frames as RGB into `path`."""
    import av

    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        for grey in frames:
            rgb = np.repeat(grey[..., None], 3, axis=2)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def sitk_volume(shape=(6, 10, 14), dtype=np.int16, *, oblique: bool = True):
    """A SimpleITK image (z, y, x array) with non-trivial spacing, origin and direction."""
    import SimpleITK as sitk

    array = (np.arange(int(np.prod(shape))) % 251).reshape(shape).astype(dtype)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.7, 0.9, 2.5))
    image.SetOrigin((-12.5, 30.25, 7.0))
    if oblique:
        angle = np.deg2rad(20)
        c, s = np.cos(angle), np.sin(angle)
        image.SetDirection((c, -s, 0.0, s, c, 0.0, 0.0, 0.0, -1.0))
    return image, array
