"""Multi-frame DICOM objects: enhanced CT/MR/PET volumes and cine clips (ultrasound etc.).

- Per-frame functional groups with plane positions (enhanced CT/MR/PT): a volume, frames
  ordered by position along the normal exactly like a single-frame series.
- A cross-sectional modality (CT/MR/PT/NM) without per-frame geometry: a volume in stored frame
  order, with the spacing the header offers (SpacingBetweenSlices, SliceThickness, else 1 mm) and
  no patient orientation; a note says the geometry was assumed.
- Anything else with more than one frame (US, XA, ...): a clip (kind "video"), colour reduced to
  8-bit luminance, frame rate from FrameTime / FrameTimeVector / CineRate /
  RecommendedDisplayFrameRate, in that order (dicom_clip decodes those).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from . import geometry
from .deid import technical_metadata
from .dicom_clip import VIDEO_WINDOW, decode_clip, frame_rate, ultrasound_region_spacing
from .dicom_files import (
    CROSS_SECTIONAL,
    SourceFile,
    check_decodable,
    first_float,
    floats,
    modality_code,
    number_of_frames,
    read_pixels,
    syntax_name,
    transfer_syntax,
    window_of,
)
from .dicom_plan import DicomPlan
from .stack import SliceInfo, plan_stack
from .volume import DicomReference, ImageVolume, ImportLimits, ImportRejected


@dataclass(kw_only=True)
class MultiframePlan(DicomPlan):
    source: SourceFile
    header: Dataset  # pixel data deferred
    kind: str  # "volume" or "video"
    order: list[int]  # source frame indices (0-based) in canonical order
    rows: int
    columns: int
    slopes: np.ndarray
    intercepts: np.ndarray
    frame_rate: float | None

    @property
    def work(self) -> int:
        """Progress steps: one per clip frame (decoded one by one), one for a volume."""
        return len(self.order) if self.kind == "video" else 1

    def load(self, advance: Callable[[], None]) -> ImageVolume:
        ds = self.header
        if self.kind == "video":
            array = decode_clip(self.source, ds, len(self.order), self.rows, self.columns, advance)
            window = self.window or VIDEO_WINDOW
        else:
            pixels = read_pixels(self.source, ds)
            expected = (len(self.order), self.rows, self.columns)
            if pixels.shape != expected and pixels.size == np.prod(expected):
                pixels = pixels.reshape(expected)  # a single frame decodes as (rows, columns)
            if pixels.shape != expected:
                raise ImportRejected(
                    f"{self.source.name}: decoded to shape {pixels.shape}, but the header says "
                    f"{expected}; the file is corrupt."
                )
            array = geometry.rescale_stack(pixels[self.order], self.slopes, self.intercepts)
            del pixels
            window = self.window or geometry.computed_window(array, self.modality)
            advance()
        return self.volume(
            array,
            kind=self.kind,
            source_format="dicom-multiframe",
            window=window,
            frame_rate=self.frame_rate,
        )


def plan_multiframe(
    source: SourceFile, ds: Dataset, root: str, limits: ImportLimits
) -> MultiframePlan | str:
    """Plan one multi-frame object from its header; a str result is a skip note."""
    frames = number_of_frames(ds)
    try:
        rows, columns = int(ds.Rows), int(ds.Columns)
    except (AttributeError, TypeError, ValueError) as exc:
        raise ImportRejected(f"{source.name}: the image has no Rows/Columns.") from exc
    if rows * columns * frames > limits.max_voxels:
        raise ImportRejected(
            f"{source.name}: {columns}x{rows}x{frames} voxels is more than the limit of "
            f"{limits.max_voxels}. Upload a smaller object."
        )
    check_decodable(ds, source.name)
    per_frame = list(ds.get("PerFrameFunctionalGroupsSequence") or [])
    shared_seq = ds.get("SharedFunctionalGroupsSequence") or []
    shared = shared_seq[0] if len(shared_seq) else Dataset()
    raw_modality = str(ds.get("Modality", "") or "").upper()
    has_positions = bool(per_frame) and all(
        _group(item, shared, "PlanePositionSequence") is not None for item in per_frame
    )
    colour = int(ds.get("SamplesPerPixel", 1) or 1) > 1
    metadata = technical_metadata(ds)
    metadata["TransferSyntax"] = syntax_name(transfer_syntax(ds))
    common = dict(
        source=source, header=ds, rows=rows, columns=columns, root=root, metadata=metadata
    )
    if has_positions:
        _require_greyscale(source, colour)
        return _plan_enhanced(ds, per_frame, shared, frames, common)
    if raw_modality in CROSS_SECTIONAL and frames > 1:
        _require_greyscale(source, colour)
        return _plan_assumed_volume(ds, shared, frames, common)
    if frames == 1:
        return (
            f"{source.name}: skipped, a single image without patient geometry (a still image "
            "or secondary capture) is neither a volume nor a clip"
        )
    return _plan_video(ds, shared, frames, common)


def _require_greyscale(source: SourceFile, colour: bool) -> None:
    if colour:
        raise ImportRejected(
            f"{source.name}: a colour multi-frame volume is not supported; volumes must be "
            "greyscale (CT, MR, PET)."
        )


def _plan_enhanced(ds, per_frame, shared, frames, common) -> MultiframePlan:
    source = common["source"]
    if len(per_frame) != frames:
        raise ImportRejected(
            f"{source.name}: has {frames} frames but {len(per_frame)} per-frame functional "
            "group items; the header is corrupt."
        )
    slices, slopes, intercepts = [], [], []
    for index, item in enumerate(per_frame):
        label = f"{source.name} frame {index + 1}"
        position = floats(_value(item, shared, "PlanePositionSequence", "ImagePositionPatient"), 3)
        orientation = floats(
            _value(item, shared, "PlaneOrientationSequence", "ImageOrientationPatient"), 6
        )
        if orientation is None:
            orientation = floats(ds.get("ImageOrientationPatient"), 6)
        if position is None or orientation is None:
            raise ImportRejected(
                f"{label}: has no valid plane position/orientation; the header is corrupt."
            )
        spacing = floats(_value(item, shared, "PixelMeasuresSequence", "PixelSpacing"), 2)
        if spacing is None:
            spacing = floats(ds.get("PixelSpacing"), 2)
        if spacing is None:
            raise ImportRejected(f"{label}: has no PixelSpacing; the header is corrupt.")
        slices.append(
            SliceInfo(position, orientation, spacing, common["rows"], common["columns"], label)
        )
        transform = _group(item, shared, "PixelValueTransformationSequence") or ds
        slopes.append(first_float(transform.get("RescaleSlope"), 1.0))
        intercepts.append(first_float(transform.get("RescaleIntercept"), 0.0))
    measures = _group(per_frame[0], shared, "PixelMeasuresSequence") or Dataset()
    single = (
        first_float(measures.get("SpacingBetweenSlices"))
        or first_float(ds.get("SpacingBetweenSlices"))
        or first_float(measures.get("SliceThickness"))
        or 1.0
    )
    what = f"{source.name} ({ds.get('Modality', '?')}, {frames} frames)"
    plan = plan_stack(slices, what, single_slice_spacing=abs(single))
    if any(s == 0 for s in slopes):
        raise ImportRejected(f"{what}: RescaleSlope is 0; the header is corrupt.")
    middle = per_frame[plan.order[len(plan.order) // 2]]
    voi = _group(middle, shared, "FrameVOILUTSequence")
    return MultiframePlan(
        kind="volume",
        order=plan.order,
        slopes=np.asarray(slopes)[plan.order],
        intercepts=np.asarray(intercepts)[plan.order],
        spacing=plan.spacing,
        origin=plan.origin,
        direction=plan.direction,
        modality=modality_code(ds),
        window=(window_of(voi) if voi is not None else None) or window_of(ds),
        frame_rate=None,
        dicom=_reference(ds, plan.order),
        **common,
    )


def _plan_assumed_volume(ds, shared, frames, common) -> MultiframePlan:
    measures = _group(None, shared, "PixelMeasuresSequence") or Dataset()
    spacing = floats(measures.get("PixelSpacing"), 2)
    if spacing is None:
        spacing = floats(ds.get("PixelSpacing"), 2)
    slice_gap = (
        first_float(ds.get("SpacingBetweenSlices"))
        or first_float(measures.get("SpacingBetweenSlices"))
        or first_float(ds.get("SliceThickness"))
        or first_float(measures.get("SliceThickness"))
        or 1.0
    )
    orientation = floats(ds.get("ImageOrientationPatient"), 6)
    position = floats(ds.get("ImagePositionPatient"), 3)
    direction = np.eye(3)
    if orientation is not None:
        row, col = orientation[:3], orientation[3:]
        if abs(float(row @ col)) < 1e-3 and min(np.linalg.norm(row), np.linalg.norm(col)) > 0:
            row, col = row / np.linalg.norm(row), col / np.linalg.norm(col)
            direction = np.column_stack([row, col, np.cross(row, col)])
    assumed = []
    if spacing is None:
        spacing = np.ones(2)
        assumed.append("1 mm pixels")
    if orientation is None or position is None:
        assumed.append("axial orientation at the origin")
    source = common["source"]
    notes = [
        f"{source.name}: no per-frame patient geometry; frames kept in stored order, "
        f"{slice_gap:.3g} mm apart" + (f", {', '.join(assumed)} assumed" if assumed else "")
    ]
    transform = _group(None, shared, "PixelValueTransformationSequence") or ds
    voi = _group(None, shared, "FrameVOILUTSequence")
    order = list(range(frames))
    return MultiframePlan(
        kind="volume",
        order=order,
        slopes=np.full(frames, first_float(transform.get("RescaleSlope"), 1.0) or 1.0),
        intercepts=np.full(frames, first_float(transform.get("RescaleIntercept"), 0.0)),
        spacing=(float(spacing[1]), float(spacing[0]), abs(float(slice_gap))),
        origin=tuple(float(v) for v in (position if position is not None else np.zeros(3))),
        direction=tuple(float(v) for v in direction.reshape(-1)),
        modality=modality_code(ds),
        window=(window_of(voi) if voi is not None else None) or window_of(ds),
        frame_rate=None,
        dicom=_reference(ds, order),
        notes=notes,
        **common,
    )


def _plan_video(ds, shared, frames, common) -> MultiframePlan:
    measures = _group(None, shared, "PixelMeasuresSequence") or Dataset()
    spacing = floats(ds.get("PixelSpacing"), 2)
    if spacing is None:
        spacing = floats(measures.get("PixelSpacing"), 2)
    if spacing is None:
        spacing = ultrasound_region_spacing(ds)
    if spacing is None:
        spacing = np.ones(2)
    order = list(range(frames))
    return MultiframePlan(
        kind="video",
        order=order,
        slopes=np.ones(frames),
        intercepts=np.zeros(frames),
        spacing=(float(spacing[1]), float(spacing[0]), 1.0),
        origin=(0.0, 0.0, 0.0),
        direction=tuple(float(v) for v in np.eye(3).reshape(-1)),
        modality=modality_code(ds),
        window=window_of(ds) if int(ds.get("BitsStored", 8) or 8) <= 8 else None,
        frame_rate=frame_rate(ds),
        dicom=_reference(ds, order),
        **common,
    )


def _group(item: Dataset | None, shared: Dataset, sequence: str) -> Dataset | None:
    """First item of a functional group macro, per-frame first, then shared."""
    for holder in (item, shared):
        if holder is None:
            continue
        seq = holder.get(sequence)
        if seq is not None and len(seq):
            return seq[0]
    return None


def _value(item, shared, sequence: str, keyword: str):
    group = _group(item, shared, sequence)
    return group.get(keyword) if group is not None else None


def _reference(ds: Dataset, order: list[int]) -> DicomReference:
    return DicomReference(
        study_uid=str(ds.get("StudyInstanceUID", "")),
        series_uid=str(ds.get("SeriesInstanceUID", "")),
        frame_of_reference_uid=str(ds.get("FrameOfReferenceUID", "")),
        sop_class_uid=str(ds.get("SOPClassUID", "")),
        sop_instance_uids=[str(ds.get("SOPInstanceUID", ""))],
        modality=str(ds.get("Modality", "")),
        frame_numbers=[i + 1 for i in order],
    )
