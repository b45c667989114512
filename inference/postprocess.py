"""Mask post-processing shared by the engine and the reference procedure."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest connected component (full connectivity: 26 in 3D, 8 in 2D) as bool.

    Same rule as MedSAM2's ``getLargestCC`` (skimage ``measure.label`` defaults); an empty mask
    stays empty; ties go to the lowest label (first in C order).
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return mask.copy()
    # Label only the bounding box of the mask: a lesion is small next to its volume.
    box = bounding_box(mask)
    structure = ndimage.generate_binary_structure(mask.ndim, mask.ndim)
    labels, count = ndimage.label(mask[box], structure=structure)
    if count == 1:
        return mask.copy()
    sizes = np.bincount(labels.ravel())[1:]
    out = np.zeros_like(mask)
    out[box] = labels == int(np.argmax(sizes)) + 1
    return out


def bounding_box(mask: np.ndarray) -> tuple[slice, ...]:
    """Slices of the smallest box holding every True voxel of a non-empty mask."""
    box = []
    for axis in range(mask.ndim):
        others = tuple(a for a in range(mask.ndim) if a != axis)
        hits = np.flatnonzero(mask.any(axis=others))
        box.append(slice(int(hits[0]), int(hits[-1]) + 1))
    return tuple(box)
