"""What a DICOM import plan (a series, a multi-frame object) knows from the headers alone, and
the volume it makes once its pixels are decoded."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from . import geometry
from .volume import DicomReference, ImageVolume


@dataclass(kw_only=True)
class DicomPlan:
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]
    modality: str
    window: tuple[float, float] | None  # from the headers, if they give one
    dicom: DicomReference
    metadata: dict
    root: str
    notes: list[str] = field(default_factory=list)
    source_name: str = ""

    def volume(
        self,
        array: np.ndarray,
        *,
        kind: str,
        source_format: str,
        window: tuple[float, float],
        frame_rate: float | None = None,
    ) -> ImageVolume:
        fingerprint = uid_fingerprint(source_format, self.dicom) or geometry.content_fingerprint(
            array, self.spacing, self.origin, self.direction
        )
        return ImageVolume(
            array=array,
            spacing=self.spacing,
            origin=self.origin,
            direction=self.direction,
            modality=self.modality,
            kind=kind,
            frame_rate=frame_rate,
            window=window,
            source_format=source_format,
            fingerprint=fingerprint,
            source_name=self.source_name,
            description=geometry.describe(
                self.modality, kind, array.shape, self.spacing, frame_rate
            ),
            dicom=self.dicom,
            metadata=self.metadata,
        )


def uid_fingerprint(source_format: str, ref: DicomReference) -> str | None:
    """The source's identity from its UIDs (the same objects imported again match), or None
    when a UID is missing and the voxels must stand in."""
    if not (ref.study_uid and ref.series_uid and all(ref.sop_instance_uids)):
        return None
    text = "\0".join([source_format, ref.study_uid, ref.series_uid, *sorted(ref.sop_instance_uids)])
    return hashlib.sha256(text.encode()).hexdigest()
