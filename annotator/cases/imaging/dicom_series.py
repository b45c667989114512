"""Single-frame DICOM series (classic CT/MR/PT): one file per slice → one volume."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from . import geometry
from .deid import technical_metadata
from .dicom_files import (
    SourceFile,
    check_decodable,
    first_float,
    floats,
    modality_code,
    read_pixels,
    syntax_name,
    transfer_syntax,
    window_of,
)
from .dicom_plan import DicomPlan
from .stack import SliceInfo, plan_stack
from .volume import DicomReference, ImageVolume, ImportLimits, ImportRejected


@dataclass(kw_only=True)
class SeriesPlan(DicomPlan):
    """A validated series, ready to decode: everything here comes from the headers only."""

    files: list[SourceFile]  # in canonical z order
    datasets: list[Dataset]  # their headers (pixel data deferred)
    slopes: np.ndarray
    intercepts: np.ndarray
    rows: int
    columns: int
    folder: str

    @property
    def work(self) -> int:
        return len(self.files)

    def load(self, advance: Callable[[], None]) -> ImageVolume:
        raw = None
        for z, (source, ds) in enumerate(zip(self.files, self.datasets, strict=True)):
            pixels = read_pixels(source, ds)
            if pixels.shape != (self.rows, self.columns):
                raise ImportRejected(
                    f"{source.name}: decoded to {pixels.shape}, but the header says "
                    f"{self.rows}x{self.columns}; the file is corrupt."
                )
            if raw is None:
                raw = np.empty((len(self.files), self.rows, self.columns), pixels.dtype)
            elif not np.can_cast(pixels.dtype, raw.dtype, "safe"):
                raw = raw.astype(np.promote_types(raw.dtype, pixels.dtype))
            raw[z] = pixels
            advance()
        array = geometry.rescale_stack(raw, self.slopes, self.intercepts)
        del raw
        window = self.window or geometry.computed_window(array, self.modality)
        return self.volume(array, kind="volume", source_format="dicom-series", window=window)


def plan_series(
    headers: list[tuple[SourceFile, Dataset]], root: str, limits: ImportLimits
) -> SeriesPlan | str:
    """Check one series from its headers. Returns a plan, or a note (str) when the series is
    deliberately skipped (localizers, images without patient geometry)."""
    first_source, first = headers[0]
    modality = modality_code(first)
    folder = _common_folder([s.name for s, _ in headers])
    what = (
        f"series {first.get('SeriesNumber', '?')} ({first.get('Modality', '?')}, "
        f"{len(headers)} image{'s' if len(headers) > 1 else ''}) in {folder}"
    )
    if all(_is_localizer(ds) for _, ds in headers):
        return f"{what}: skipped, it is a localizer (scout) series"
    with_geometry = [
        "ImagePositionPatient" in ds and "ImageOrientationPatient" in ds for _, ds in headers
    ]
    if not any(with_geometry):
        return (
            f"{what}: skipped, its images have no patient geometry (a radiograph, secondary "
            "capture or still image), so they cannot form a volume"
        )
    if not all(with_geometry):
        bad = headers[with_geometry.index(False)][0]
        raise ImportRejected(
            f"{what}: {bad.name} lacks ImagePositionPatient/ImageOrientationPatient while the "
            "other images have them; the series is inconsistent. Re-export it."
        )
    notes: list[str] = []
    slices: list[SliceInfo] = []
    for source, ds in headers:
        if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
            raise ImportRejected(
                f"{what}: {source.name} is a colour image; volumes must be greyscale "
                "(CT, MR, PET). Upload the original greyscale series."
            )
        check_decodable(ds, source.name)
        slices.append(_slice_info(source, ds, what, notes))
    rows, columns = slices[0].rows, slices[0].columns
    if rows * columns * len(slices) > limits.max_voxels:
        raise ImportRejected(
            f"{what}: {columns}x{rows}x{len(slices)} voxels is more than the limit of "
            f"{limits.max_voxels}. Upload a smaller series."
        )
    single = (
        first_float(first.get("SpacingBetweenSlices"))
        or first_float(first.get("SliceThickness"))
        or 1.0
    )
    plan = plan_stack(slices, what, single_slice_spacing=abs(single))
    ordered = [headers[i] for i in plan.order]
    slopes = np.array([first_float(ds.get("RescaleSlope"), 1.0) for _, ds in ordered])
    intercepts = np.array([first_float(ds.get("RescaleIntercept"), 0.0) for _, ds in ordered])
    if np.any(slopes == 0):
        raise ImportRejected(f"{what}: RescaleSlope is 0 in some images; the header is corrupt.")
    middle = ordered[len(ordered) // 2][1]
    metadata = technical_metadata(first)
    metadata["TransferSyntax"] = syntax_name(transfer_syntax(first))
    dicom = DicomReference(
        study_uid=str(first.get("StudyInstanceUID", "")),
        series_uid=str(first.get("SeriesInstanceUID", "")),
        frame_of_reference_uid=str(first.get("FrameOfReferenceUID", "")),
        sop_class_uid=str(first.get("SOPClassUID", "")),
        sop_instance_uids=[str(ds.get("SOPInstanceUID", "")) for _, ds in ordered],
        modality=str(first.get("Modality", "")),
    )
    return SeriesPlan(
        files=[s for s, _ in ordered],
        datasets=[ds for _, ds in ordered],
        slopes=slopes,
        intercepts=intercepts,
        rows=rows,
        columns=columns,
        spacing=plan.spacing,
        origin=plan.origin,
        direction=plan.direction,
        modality=modality,
        window=window_of(middle),
        dicom=dicom,
        metadata=metadata,
        root=root,
        folder=folder,
        notes=notes,
    )


def _slice_info(source: SourceFile, ds: Dataset, what: str, notes: list[str]) -> SliceInfo:
    position = floats(ds.get("ImagePositionPatient"), 3)
    orientation = floats(ds.get("ImageOrientationPatient"), 6)
    if position is None or orientation is None:
        raise ImportRejected(
            f"{what}: {source.name} has a malformed ImagePositionPatient or "
            "ImageOrientationPatient; the header is corrupt."
        )
    spacing = floats(ds.get("PixelSpacing"), 2)
    if spacing is None:
        spacing = floats(ds.get("ImagerPixelSpacing"), 2)
    if spacing is None:
        spacing = np.ones(2)
        if not notes:
            notes.append(f"{what}: no PixelSpacing in the header; 1 mm pixels assumed")
    try:
        rows, columns = int(ds.Rows), int(ds.Columns)
    except (AttributeError, TypeError, ValueError) as exc:
        raise ImportRejected(f"{source.name}: the image has no Rows/Columns.") from exc
    return SliceInfo(position, orientation, spacing, rows, columns, source.name)


def _is_localizer(ds: Dataset) -> bool:
    image_type = ds.get("ImageType") or []
    values = [image_type] if isinstance(image_type, str) else list(image_type)
    return "LOCALIZER" in [str(v).upper() for v in values]


def _common_folder(names: list[str]) -> str:
    split = [n.split("/")[:-1] for n in names]
    common = split[0]
    for parts in split[1:]:
        k = 0
        while k < min(len(common), len(parts)) and common[k] == parts[k]:
            k += 1
        common = common[:k]
    return "/".join(common) if common else names[0]
