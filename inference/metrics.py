"""Segmentation quality: Dice and normalised surface distance (NSD) of 2D or 3D masks.

Empty masks: both empty is a perfect match (1.0); one empty and the other not scores 0.0.
NSD (Nikolov et al.) is the fraction of both masks' boundary voxels that lie within
``tolerance_mm`` of the other mask's boundary, with distances in mm from the voxel spacing.
Boundary = voxels of the mask with a 6-neighbour (4 in 2D) outside it or outside the image;
this voxel-based version is a close, simpler relative of the surfel-area one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """2|A∩B| / (|A| + |B|); 1.0 when both are empty."""
    a, b = _pair(pred, truth)
    total = int(a.sum()) + int(b.sum())
    if total == 0:
        return 1.0
    return 2.0 * int(np.logical_and(a, b).sum()) / total


def normalized_surface_distance(
    pred: np.ndarray,
    truth: np.ndarray,
    spacing: Sequence[float],
    tolerance_mm: float = 2.0,
) -> float:
    """NSD at ``tolerance_mm``; ``spacing`` is per array axis (for (D, H, W): (z, y, x) mm)."""
    a, b = _pair(pred, truth)
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != a.ndim or min(spacing) <= 0:
        raise ValueError(f"spacing must have {a.ndim} positive values, got {spacing}")
    if tolerance_mm < 0:
        raise ValueError(f"tolerance_mm must be >= 0, got {tolerance_mm}")
    if not a.any() and not b.any():
        return 1.0
    if not a.any() or not b.any():
        return 0.0
    a, b = _crop_to_union(a, b, spacing, tolerance_mm)
    border_a, border_b = _border(a), _border(b)
    # Distance from every voxel to the nearest border voxel of the other mask.
    dist_to_b = ndimage.distance_transform_edt(~border_b, sampling=spacing)
    dist_to_a = ndimage.distance_transform_edt(~border_a, sampling=spacing)
    close = int((dist_to_b[border_a] <= tolerance_mm).sum())
    close += int((dist_to_a[border_b] <= tolerance_mm).sum())
    return close / (int(border_a.sum()) + int(border_b.sum()))


def _crop_to_union(a, b, spacing, tolerance_mm):
    """Crop to both masks plus the tolerance (and 1 voxel), so big volumes stay cheap."""
    coords = np.nonzero(a | b)
    region = []
    for axis, size in enumerate(a.shape):
        margin = int(np.ceil(tolerance_mm / spacing[axis])) + 1
        lo = max(0, int(coords[axis].min()) - margin)
        hi = min(size, int(coords[axis].max()) + margin + 1)
        region.append(slice(lo, hi))
    region = tuple(region)
    return a[region], b[region]


def _border(mask: np.ndarray) -> np.ndarray:
    structure = ndimage.generate_binary_structure(mask.ndim, 1)
    eroded = ndimage.binary_erosion(mask, structure=structure, border_value=0)
    return mask & ~eroded


def _pair(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(pred).astype(bool), np.asarray(truth).astype(bool)
    if a.shape != b.shape:
        raise ValueError(f"mask shapes differ: {a.shape} vs {b.shape}")
    if a.ndim not in (2, 3):
        raise ValueError(f"masks must be 2D or 3D, got {a.ndim}D")
    return a, b
