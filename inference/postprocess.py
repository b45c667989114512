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
    structure = ndimage.generate_binary_structure(mask.ndim, mask.ndim)
    labels, count = ndimage.label(mask, structure=structure)
    if count == 1:
        return mask.copy()
    sizes = np.bincount(labels.ravel())[1:]
    return labels == int(np.argmax(sizes)) + 1
