"""Video files (MP4/MOV, AVI, Matroska/WebM) → clips, through PyAV (FFmpeg inside the wheel).

A clip is stored like ultrasound cine in DICOM: kind "video", uint8 luminance frames
(0.299 R + 0.587 G + 0.114 B, the rule of dicom_clip), the container's frame rate, no physical
spacing (1 mm), origin 0, identity direction. A video carries no modality; the import service
gives it the project's.

Sizes are checked before anything large is decoded: the header's frame size, and its declared
frame count (or duration × rate) times the frame size, against `max_voxels`. Frames are then
decoded one at a time under a running voxel budget, so a file that declares little and holds
much is refused as soon as it passes the limit, and memory grows only with frames actually
decoded. A file that decodes to fewer frames than its header declares is truncated and refused.

The demuxer is the one the sniffed magic names (never FFmpeg's probing, which would also accept
playlists that point at other files), and only the `file` protocol is allowed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from . import geometry
from .dicom_clip import VIDEO_WINDOW, luminance
from .dicom_files import SourceFile
from .volume import ImageVolume, ImportLimits, ImportRejected

_OPTIONS = {"protocol_whitelist": "file"}
_FORMAT_NAMES = {"mov": "MP4/MOV", "avi": "AVI", "matroska": "Matroska/WebM"}


def sniff_video(head: bytes) -> str | None:
    """The FFmpeg demuxer for a video container recognised by its magic bytes, else None."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "mov"  # ISO base media: .mp4, .m4v, .mov
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"  # also WebM
    return None


@dataclass
class VideoPlan:
    """A probed video: its header passed the size checks; `load` decodes it."""

    source: SourceFile
    demuxer: str
    root: str
    limits: ImportLimits
    width: int = 0
    height: int = 0
    declared_frames: int = 0  # from the container; 0 when it does not say
    frame_rate: float | None = None
    codec: str = ""
    notes: list[str] = field(default_factory=list)
    source_name: str = ""

    @property
    def work(self) -> int:
        return max(1, self.declared_frames)

    def probe(self) -> VideoPlan:
        name = self.source.name
        with _opened(self) as container:
            stream = _video_stream(container, name)
            context = stream.codec_context
            self.width, self.height = int(context.width or 0), int(context.height or 0)
            self.codec = str(context.name or "")
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            self.frame_rate = float(rate) if rate and float(rate) > 0 else None
            self.declared_frames = int(stream.frames or 0)
            estimate = self.declared_frames or _frames_from_duration(
                stream, container, self.frame_rate
            )
            if len(container.streams.video) > 1:
                self.notes.append(f"{name}: has several video streams; the first was imported")
        if self.width < 1 or self.height < 1:
            raise ImportRejected(
                f"{name}: the video stream has no frame size ({self.codec or 'unknown codec'}); "
                "the file is corrupt or truncated. Upload it again."
            )
        pixels = self.width * self.height
        if pixels > self.limits.max_voxels:
            raise ImportRejected(
                f"{name}: one frame of {self.width}x{self.height} is more than the limit of "
                f"{self.limits.max_voxels} voxels."
            )
        declared = estimate * pixels
        if declared > self.limits.max_voxels or declared > self.limits.max_uncompressed_bytes:
            raise ImportRejected(
                f"{name}: the video declares {estimate} frames of {self.width}x{self.height} "
                f"({declared} voxels), more than the limit of {self.limits.max_voxels}. "
                "Upload a shorter or smaller clip."
            )
        return self

    def load(self, advance: Callable[[], None]) -> ImageVolume:
        name = self.source.name
        budget = min(self.limits.max_voxels, self.limits.max_uncompressed_bytes)
        frames: list[np.ndarray] = []
        try:
            with _opened(self) as container:
                stream = _video_stream(container, name)
                stream.thread_type = "AUTO"
                for frame in container.decode(stream):
                    if (frame.width, frame.height) != (self.width, self.height):
                        raise ImportRejected(
                            f"{name}: frame {len(frames) + 1} is {frame.width}x{frame.height}, "
                            f"the video starts at {self.width}x{self.height}; a clip needs one "
                            "frame size. Re-encode it."
                        )
                    if (len(frames) + 1) * self.width * self.height > budget:
                        raise ImportRejected(
                            f"{name}: the video holds more than {len(frames)} frames of "
                            f"{self.width}x{self.height}, more than the limit of {budget} "
                            "voxels (its header declared "
                            f"{self.declared_frames or 'no frame count'}). Upload a shorter or "
                            "smaller clip."
                        )
                    frames.append(luminance(frame.to_ndarray(format="rgb24")))
                    if len(frames) <= self.work:
                        advance()
        except ImportRejected:
            raise
        except MemoryError:
            raise
        except Exception as exc:  # av.FFmpegError and friends: damaged or truncated data
            raise ImportRejected(
                f"{name}: the video is corrupt or truncated after {len(frames)} frames "
                f"({_reason(exc)}). Upload it again or re-encode it."
            ) from exc
        if self.declared_frames and len(frames) < self.declared_frames:
            raise ImportRejected(
                f"{name}: the video holds {len(frames)} frames but its header declares "
                f"{self.declared_frames}; the file is truncated. Upload it again."
            )
        if len(frames) < 2:
            raise ImportRejected(
                f"{name}: the video holds {len(frames)} frame(s); a clip needs at least two."
            )
        array = np.empty((len(frames), self.height, self.width), np.uint8)
        for i in range(len(frames)):  # free each frame once copied: memory stays ~1x the clip
            array[i] = frames[i]
            frames[i] = None  # type: ignore[call-overload]
        return clip_volume(
            array,
            frame_rate=self.frame_rate,
            source_format="video",
            source_name=self.source_name or name,
            metadata={"codec": self.codec, "container": _FORMAT_NAMES[self.demuxer]},
        )


def clip_volume(
    array: np.ndarray,
    *,
    frame_rate: float | None,
    source_format: str,
    source_name: str,
    spacing_xy: tuple[float, float] = (1.0, 1.0),
    metadata: dict | None = None,
) -> ImageVolume:
    """A (t, y, x) clip with the clip geometry (origin 0, identity, z = 1) and no modality of
    its own (OT until the import service gives it the project's)."""
    spacing = (float(spacing_xy[0]), float(spacing_xy[1]), 1.0)
    origin = (0.0, 0.0, 0.0)
    direction = tuple(float(v) for v in np.eye(3).reshape(-1))
    window = VIDEO_WINDOW if array.dtype == np.uint8 else geometry.computed_window(array, "US")
    return ImageVolume(
        array=array,
        spacing=spacing,
        origin=origin,
        direction=direction,
        modality="OT",
        kind="video",
        frame_rate=frame_rate,
        window=window,
        source_format=source_format,
        fingerprint=geometry.content_fingerprint(array, spacing, origin, direction),
        source_name=source_name,
        description=geometry.describe("OT", "video", array.shape, spacing, frame_rate),
        metadata=metadata or {},
    )


class _opened:
    """av.open on the sniffed demuxer, with FFmpeg's failures turned into ImportRejected."""

    def __init__(self, plan: VideoPlan):
        self.plan = plan
        self.container = None

    def __enter__(self):
        import av  # FFmpeg is loaded only when a video is imported

        name = self.plan.source.name
        try:
            self.container = av.open(
                str(self.plan.source.path), "r", format=self.plan.demuxer, options=_OPTIONS
            )
        except MemoryError:
            raise
        except Exception as exc:
            kind = _FORMAT_NAMES[self.plan.demuxer]
            raise ImportRejected(
                f"{name}: not a readable {kind} video; it is corrupt or truncated "
                f"({_reason(exc)}). Upload it again or re-encode it (H.264 MP4 works)."
            ) from exc
        return self.container

    def __exit__(self, *exc) -> None:
        if self.container is not None:
            self.container.close()


def _video_stream(container, name: str):
    if not container.streams:  # e.g. an MP4 cut before its index (moov)
        raise ImportRejected(
            f"{name}: the video is corrupt or truncated: no stream was found in it. Upload it "
            "again or re-encode it."
        )
    if not container.streams.video:
        raise ImportRejected(f"{name}: holds no video stream (audio or data only).")
    return container.streams.video[0]


def _frames_from_duration(stream, container, rate: float | None) -> int:
    """A frame count estimated from the stream's (else the container's) duration."""
    if not rate:
        return 0
    seconds = 0.0
    if stream.duration and stream.time_base:
        seconds = float(stream.duration * Fraction(stream.time_base))
    elif container.duration:
        seconds = container.duration / 1_000_000  # AV_TIME_BASE
    return max(0, int(round(seconds * rate)))


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return f"{type(exc).__name__}: {str(text)[:160]}"


def probe_video(source: SourceFile, demuxer: str, root: str, limits: ImportLimits) -> VideoPlan:
    """Open the container, read its stream header and check the declared size (no decoding)."""
    return VideoPlan(source, demuxer, root, limits).probe()
