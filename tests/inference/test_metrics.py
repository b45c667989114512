from __future__ import annotations

import numpy as np
import pytest

from inference.metrics import dice, normalized_surface_distance
from inference.postprocess import largest_component


def _cube(shape=(10, 20, 20), lo=(2, 5, 5), hi=(8, 15, 15)) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] = True
    return mask


def test_dice_values():
    a = _cube()
    assert dice(a, a) == 1.0
    assert dice(a, np.zeros_like(a)) == 0.0
    assert dice(np.zeros_like(a), np.zeros_like(a)) == 1.0
    b = np.zeros_like(a)
    b[2:8, 5:15, 5:10] = True  # half of a
    assert dice(a, b) == pytest.approx(2 * 300 / (600 + 300))
    assert dice(a.astype(np.uint8), b.astype(np.uint8)) == pytest.approx(2 / 3)


def test_nsd_identical_shifted_and_empty():
    a = _cube()
    spacing = (1.0, 1.0, 1.0)
    assert normalized_surface_distance(a, a, spacing, 0.0) == 1.0
    shifted = np.roll(a, 1, axis=2)
    assert normalized_surface_distance(a, shifted, spacing, 1.0) == 1.0
    partial = normalized_surface_distance(a, shifted, spacing, 0.5)
    assert 0.0 < partial < 1.0
    empty = np.zeros_like(a)
    assert normalized_surface_distance(empty, empty, spacing) == 1.0
    assert normalized_surface_distance(a, empty, spacing) == 0.0
    assert normalized_surface_distance(empty, a, spacing) == 0.0


def test_nsd_uses_the_spacing():
    a = _cube()
    shifted = np.roll(a, 1, axis=2)  # one voxel along x
    assert normalized_surface_distance(a, shifted, (1.0, 1.0, 3.0), 2.0) < 1.0
    assert normalized_surface_distance(a, shifted, (1.0, 1.0, 1.5), 2.0) == 1.0


def test_nsd_far_apart_is_zero_and_2d_works():
    a = np.zeros((40, 40), bool)
    b = np.zeros((40, 40), bool)
    a[2:6, 2:6] = True
    b[30:36, 30:36] = True
    assert normalized_surface_distance(a, b, (1.0, 1.0), 2.0) == 0.0
    assert normalized_surface_distance(a, a, (0.5, 0.5), 1.0) == 1.0


def test_nsd_mask_touching_the_image_edge():
    a = np.zeros((5, 8, 8), bool)
    a[:, :, :3] = True  # touches three faces of the image
    assert normalized_surface_distance(a, a, (1, 1, 1), 0.0) == 1.0
    b = np.zeros_like(a)
    b[:, :, :4] = True
    assert normalized_surface_distance(a, b, (1, 1, 1), 1.0) == 1.0


def test_bad_metric_inputs():
    with pytest.raises(ValueError, match="shapes differ"):
        dice(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="2D or 3D"):
        dice(np.zeros(4), np.zeros(4))
    with pytest.raises(ValueError, match="spacing"):
        normalized_surface_distance(_cube(), _cube(), (1.0, 1.0))
    with pytest.raises(ValueError, match="spacing"):
        normalized_surface_distance(_cube(), _cube(), (1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="tolerance"):
        normalized_surface_distance(_cube(), _cube(), (1, 1, 1), -1.0)


def test_largest_component_uses_full_connectivity():
    mask = np.zeros((6, 6, 6), bool)
    mask[0, 0, 0] = mask[1, 1, 1] = mask[2, 2, 2] = True  # diagonal chain: one component
    mask[4:6, 4:6, 4] = True  # 4 voxels, larger than... no: chain is 3
    kept = largest_component(mask)
    assert kept.sum() == 4 and kept[4, 4, 4]
    mask[3, 3, 3] = True  # joins the chain to the square via (4, 4, 4) diagonally
    assert largest_component(mask).sum() == mask.sum()
    assert not largest_component(np.zeros((3, 3, 3), bool)).any()
