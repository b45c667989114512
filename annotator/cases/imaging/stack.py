"""Ordering and checking a stack of DICOM slices (single-frame files or enhanced frames).

Slices are ordered by ImagePositionPatient projected on the slice normal (row × column cosine
of ImageOrientationPatient) — never by file name or InstanceNumber — and the stack must form a
regular grid: one orientation, one in-plane size and spacing, no duplicate positions, no gaps,
no sideways drift (gantry tilt).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .volume import ImportRejected

ORIENTATION_TOL = 1e-3  # direction cosines
SPACING_RTOL = 1e-3  # in-plane pixel spacing
DUPLICATE_MM = 0.01  # slices closer than this along the normal are the same position
MISSING_FACTOR = 1.5  # a gap this many times the median gap means missing slices


@dataclass
class SliceInfo:
    position: np.ndarray  # ImagePositionPatient (3,)
    orientation: np.ndarray  # ImageOrientationPatient (6,)
    pixel_spacing: np.ndarray  # PixelSpacing (row spacing, column spacing)
    rows: int
    columns: int
    label: str  # how to name this slice in a message (file name or "frame 7")


@dataclass
class StackPlan:
    order: list[int]  # indices into the slice list, in canonical z order
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]


def plan_stack(slices: list[SliceInfo], what: str, single_slice_spacing: float) -> StackPlan:
    """Validate the stack and compute its canonical order and LPS geometry."""
    first = slices[0]
    for s in slices[1:]:
        if (s.rows, s.columns) != (first.rows, first.columns):
            raise ImportRejected(
                f"{what}: images have different sizes ({first.columns}x{first.rows} in "
                f"{first.label}, {s.columns}x{s.rows} in {s.label}); a series must have one "
                "image size. Upload the series on its own or re-export it."
            )
    orientations = np.stack([s.orientation for s in slices])
    differs = np.abs(orientations - orientations[0]).max(axis=1) > ORIENTATION_TOL
    if differs.any():
        other = slices[int(np.argmax(differs))]
        distinct = _count_distinct(orientations)
        raise ImportRejected(
            f"{what}: the images have {distinct} different orientations (e.g. {first.label} and "
            f"{other.label}); this is a localizer or multi-planar series, not one volume. Export "
            "each orientation as its own series, or leave this series out."
        )
    spacings = np.stack([s.pixel_spacing for s in slices])
    if not np.allclose(spacings, spacings[0], rtol=SPACING_RTOL, atol=1e-6):
        other = slices[int(np.argmax(np.abs(spacings - spacings[0]).max(axis=1)))]
        raise ImportRejected(
            f"{what}: the pixel spacing differs between images ({_mm(first.pixel_spacing)} in "
            f"{first.label}, {_mm(other.pixel_spacing)} in {other.label}); a series must have one "
            "in-plane spacing."
        )
    if np.any(spacings[0] <= 0):
        raise ImportRejected(f"{what}: the pixel spacing {_mm(spacings[0])} is not positive.")

    row_dir, col_dir = orientations[0][:3], orientations[0][3:]
    norms = np.linalg.norm(row_dir), np.linalg.norm(col_dir)
    if min(norms) < 1e-6:
        raise ImportRejected(f"{what}: ImageOrientationPatient is not a valid orientation.")
    row_dir, col_dir = row_dir / norms[0], col_dir / norms[1]
    if abs(float(row_dir @ col_dir)) > ORIENTATION_TOL:
        raise ImportRejected(
            f"{what}: ImageOrientationPatient has row and column directions that are not "
            "perpendicular; the header is corrupt."
        )
    normal = np.cross(row_dir, col_dir)
    normal /= np.linalg.norm(normal)

    positions = np.stack([s.position for s in slices])
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    sorted_along = along[order]
    n = len(slices)
    if n == 1:
        slice_spacing = single_slice_spacing
    else:
        slice_spacing = _check_spacing(slices, order, sorted_along, what)
        _check_drift(slices, order, positions, normal, float(spacings[0].min()), what)

    direction = np.column_stack([row_dir, col_dir, normal])
    origin = positions[order[0]]
    return StackPlan(
        order=[int(i) for i in order],
        spacing=(float(spacings[0][1]), float(spacings[0][0]), float(slice_spacing)),
        origin=tuple(float(v) for v in origin),
        direction=tuple(float(v) for v in direction.reshape(-1)),
    )


def _check_spacing(slices, order, sorted_along, what: str) -> float:
    gaps = np.diff(sorted_along)
    duplicate = np.flatnonzero(gaps < DUPLICATE_MM)
    if duplicate.size:
        i = int(duplicate[0])
        a, b = slices[order[i]], slices[order[i + 1]]
        count = int(duplicate.size)
        raise ImportRejected(
            f"{what}: {a.label} and {b.label} are at the same position ({count} duplicate "
            f"position{'s' if count > 1 else ''} in all). The series holds several images per "
            "position (duplicate files, or several echoes/phases/time points); upload one "
            "image per position, e.g. one phase per series."
        )
    median = float(np.median(gaps))
    big = np.flatnonzero(gaps > MISSING_FACTOR * median)
    if big.size:
        i = int(big[0])
        a, b = slices[order[i]], slices[order[i + 1]]
        missing = max(1, round(float(gaps[i]) / median) - 1)
        raise ImportRejected(
            f"{what}: slices are missing — the gap between {a.label} and {b.label} is "
            f"{gaps[i]:.2f} mm while the other slices are {median:.2f} mm apart (about "
            f"{missing} slice{'s' if missing > 1 else ''} missing). Upload the complete series."
        )
    n = len(sorted_along)
    spacing = float(sorted_along[-1] - sorted_along[0]) / (n - 1)
    # Positions must sit on a regular grid; rounding in the header is tolerated.
    residual = np.abs(sorted_along - (sorted_along[0] + spacing * np.arange(n)))
    tolerance = max(0.05, 0.1 * spacing)
    if residual.max() > tolerance:
        raise ImportRejected(
            f"{what}: the slice spacing is irregular (gaps from {gaps.min():.2f} to "
            f"{gaps.max():.2f} mm); a volume needs evenly spaced slices. Resample the series to "
            "a regular spacing (e.g. export it as NIfTI with dcm2niix) and upload again."
        )
    return spacing


def _check_drift(slices, order, positions, normal, pixel_mm: float, what: str) -> None:
    """Slices must be stacked straight along the normal (no gantry tilt / shear)."""
    offsets = positions[order] - positions[order[0]]
    lateral = offsets - np.outer(offsets @ normal, normal)
    drift = np.linalg.norm(lateral, axis=1)
    if drift.max() > 0.5 * pixel_mm:
        depth = float(abs(offsets[-1] @ normal)) or 1.0
        angle = float(np.degrees(np.arctan2(drift[-1], depth)))
        raise ImportRejected(
            f"{what}: the slices drift sideways by up to {drift.max():.2f} mm across the stack "
            f"(gantry tilt of about {angle:.1f}°), so they do not form a rectangular volume. "
            "Correct the tilt (e.g. dcm2niix does) and upload the result as NIfTI."
        )


def _count_distinct(orientations: np.ndarray) -> int:
    seen: list[np.ndarray] = []
    for o in orientations:
        if not any(np.abs(o - s).max() <= ORIENTATION_TOL for s in seen):
            seen.append(o)
    return len(seen)


def _mm(values) -> str:
    return "x".join(f"{float(v):.4g}" for v in values) + " mm"
