"""Cine clips in multi-frame DICOM (ultrasound, XA, ...): frame rate, pixel spacing from
ultrasound regions, and frames decoded to 8-bit luminance."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from pydicom.dataset import Dataset

from .dicom_files import SourceFile, first_float, iter_frames
from .volume import ImportRejected

VIDEO_WINDOW = (127.5, 255.0)  # the display window of 8-bit luminance
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def frame_rate(ds: Dataset) -> float | None:
    """Frames per second: FrameTime (ms), FrameTimeVector (ms), CineRate, then
    RecommendedDisplayFrameRate."""
    frame_time = first_float(ds.get("FrameTime"))
    if frame_time and frame_time > 0:
        return 1000.0 / frame_time
    vector = ds.get("FrameTimeVector")
    if vector is not None:
        try:
            # The first entry is 0 (time of frame 1 relative to itself).
            steps = [float(v) for v in list(vector)[1:]]
        except (TypeError, ValueError):
            steps = []
        steps = [s for s in steps if s > 0]
        if steps:
            return 1000.0 / float(np.mean(steps))
    for keyword in ("CineRate", "RecommendedDisplayFrameRate"):
        rate = first_float(ds.get(keyword))
        if rate and rate > 0:
            return rate
    return None


def ultrasound_region_spacing(ds: Dataset) -> np.ndarray | None:
    """(row, column) mm from the largest 2-D tissue region with centimetre units."""
    best, best_area = None, -1
    for region in ds.get("SequenceOfUltrasoundRegions") or []:
        if region.get("RegionSpatialFormat") != 1:
            continue
        if region.get("PhysicalUnitsXDirection") != 3 or region.get("PhysicalUnitsYDirection") != 3:
            continue
        dx, dy = (
            first_float(region.get("PhysicalDeltaX")),
            first_float(region.get("PhysicalDeltaY")),
        )
        if not dx or not dy or dx <= 0 or dy <= 0:
            continue
        width = int(region.get("RegionLocationMaxX1", 0)) - int(
            region.get("RegionLocationMinX0", 0)
        )
        height = int(region.get("RegionLocationMaxY1", 0)) - int(
            region.get("RegionLocationMinY0", 0)
        )
        if width * height > best_area:
            best, best_area = np.array([abs(dy) * 10.0, abs(dx) * 10.0]), width * height
    return best


def decode_clip(
    source: SourceFile,
    ds: Dataset,
    frames: int,
    rows: int,
    columns: int,
    advance: Callable[[], None],
) -> np.ndarray:
    """Frames → uint8 luminance (t, y, x), one frame at a time so a long colour clip never
    sits in memory as RGB. Greyscale deeper than 8 bits is scaled by the clip's range."""
    photometric = str(ds.get("PhotometricInterpretation", "")).upper()
    out = None
    decoded = 0
    for index, frame in enumerate(iter_frames(source, ds)):
        if index >= frames:
            break
        decoded += 1
        if photometric == "PALETTE COLOR":
            from pydicom.pixels import apply_color_lut

            frame = apply_color_lut(frame, ds)
        if frame.shape[:2] != (rows, columns):
            raise ImportRejected(
                f"{source.name}: frame {index + 1} decoded to {frame.shape[:2]}, but the header "
                f"says {rows}x{columns}; the file is corrupt."
            )
        if out is None:
            dtype = np.uint8 if frame.ndim == 3 or frame.dtype == np.uint8 else frame.dtype
            out = np.empty((frames, rows, columns), dtype)
        out[index] = luminance(frame) if frame.ndim == 3 else frame
        advance()
    if out is None or decoded < frames:
        raise ImportRejected(
            f"{source.name}: holds fewer frames than its header says ({frames}); the file is "
            "truncated. Re-export it."
        )
    if out.dtype != np.uint8:
        lo, hi = float(out.min()), float(out.max())
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        scaled = np.empty(out.shape, np.uint8)
        for i in range(frames):
            scaled[i] = np.rint((out[i].astype(np.float32) - lo) * scale)
        out = scaled
    if photometric == "MONOCHROME1":
        np.subtract(255, out, out=out)
    return out


def luminance(rgb: np.ndarray) -> np.ndarray:
    luma = rgb.astype(np.float32) @ _LUMA
    if rgb.dtype.kind == "u" and rgb.dtype.itemsize > 1:
        luma *= 255.0 / float(np.iinfo(rgb.dtype).max)
    return np.clip(np.rint(luma), 0, 255).astype(np.uint8)
