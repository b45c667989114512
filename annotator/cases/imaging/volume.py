"""The value types of the import layer: limits in, image volumes out, one error type."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

GiB = 1024**3

Progress = Callable[[int, int, str], None]

MODALITIES = ("CT", "MR", "PT", "US", "OT")
KINDS = ("volume", "video")


class ImportRejected(Exception):
    """An upload that cannot be imported. The message is meant for the user: it names the file,
    says what is wrong and what to do. It never quotes DICOM header values."""


@dataclass(frozen=True)
class ImportLimits:
    """Guards against absurd or hostile uploads; the Django settings fill these in."""

    max_upload_bytes: int = 4 * GiB
    max_uncompressed_bytes: int = 8 * GiB
    max_members: int = 20000
    max_compression_ratio: float = 200.0
    max_voxels: int = 1024 * 1024 * 2000
    # Where uploads are spooled and zips extracted (None: the system temp dir). Always cleaned up.
    scratch_dir: Path | None = None


@dataclass
class DicomReference:
    """UIDs of the source objects, kept to export DICOM-SEG later. UIDs are not direct
    identifiers (PS3.15 allows keeping them when the data stays inside the institution)."""

    study_uid: str
    series_uid: str
    frame_of_reference_uid: str
    sop_class_uid: str
    sop_instance_uids: list[str]  # one per slice in canonical order (single-frame series) or one
    modality: str
    # For multi-frame sources: the 1-based source frame number of each canonical slice/frame.
    frame_numbers: list[int] | None = None


@dataclass(repr=False)
class ImageVolume:
    """A canonical volume (z, y, x) or cine clip (t, y, x) with LPS geometry (ITK convention)."""

    array: np.ndarray
    spacing: tuple[float, float, float]  # x, y, z mm (z = 1.0 for a clip)
    origin: tuple[float, float, float]  # LPS mm, centre of voxel (0, 0, 0)
    direction: tuple[float, ...]  # 3x3 row-major, columns = x/y/z axis directions in LPS
    modality: str  # CT, MR, PT, US, OT
    kind: str  # "volume" or "video"
    frame_rate: float | None  # frames per second, clips only
    window: tuple[float, float] | None  # (center, width) default display window
    source_format: str  # "dicom-series", "dicom-multiframe", "nifti", "video", "metaimage", "nrrd"
    fingerprint: str  # sha256 hex of the source identity (UIDs) or of voxels + geometry
    source_name: str  # file/folder/zip member it came from; to match CSV rows, never stored
    description: str  # safe technical description, e.g. "CT, 200 slices, 0.7x0.7x1.25 mm"
    dicom: DicomReference | None = None
    metadata: dict = field(default_factory=dict)  # whitelisted technical attributes only
    # A 3-D MetaImage/NRRD without a time marker, which may be a 2-D+t sequence (CAMUS): the
    # import service makes it a clip for a project that takes clips (itk_formats.as_clip).
    may_be_clip: bool = False

    def __repr__(self) -> str:
        # No voxel data and no source name (file names may carry patient names) in logs.
        return (
            f"ImageVolume(kind={self.kind!r}, modality={self.modality!r}, "
            f"shape={tuple(self.array.shape)}, dtype={self.array.dtype}, "
            f"spacing={self.spacing}, origin={self.origin}, direction={self.direction}, "
            f"frame_rate={self.frame_rate}, window={self.window}, "
            f"source_format={self.source_format!r}, fingerprint={self.fingerprint[:12]!r}, "
            f"description={self.description!r}, metadata={self.metadata!r})"
        )

    @property
    def affine_lps(self) -> np.ndarray:
        """4x4 matrix from voxel index (x, y, z) to LPS millimetres."""
        direction = np.asarray(self.direction, dtype=np.float64).reshape(3, 3)
        affine = np.eye(4)
        affine[:3, :3] = direction * np.asarray(self.spacing, dtype=np.float64)
        affine[:3, 3] = self.origin
        return affine
