"""Synthetic phantoms: shapes, ground truth, prompts, variety and reproducibility."""

import numpy as np
import pytest

from inference.phantoms import (
    KINDS,
    ct_demo_case,
    echo_clip,
    key_slice,
    make_phantom,
    make_phantoms,
    mask_box,
)


@pytest.mark.parametrize("kind", KINDS)
def test_phantom_has_a_target_and_a_tight_prompt(kind):
    p = make_phantom(kind, 3)
    assert p.image.shape == p.mask.shape and p.mask.dtype == np.uint8
    assert p.mask.any()
    areas = p.mask.reshape(p.mask.shape[0], -1).sum(axis=1)
    if kind != "echo":  # volumes: the prompt is on the largest cross-section
        assert areas[p.key_index] == areas.max()
    ys, xs = np.nonzero(p.mask[p.key_index])
    assert p.box == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    assert p.is_video == (kind == "echo")


def test_ct_lesion_differs_from_its_surroundings_in_hu():
    for seed in range(5):
        p = make_phantom("ct", seed)
        assert p.image.dtype == np.int16 and p.modality == "CT" and p.window == "abdomen"
        lesion = p.mask.astype(bool)
        dz = np.zeros_like(lesion)
        zs, ys, xs = np.nonzero(lesion)
        dz[zs.min() : zs.max() + 1, ys.min() - 4 : ys.max() + 5, xs.min() - 4 : xs.max() + 5] = 1
        ring = dz & ~lesion
        assert abs(p.image[lesion].mean() - p.image[ring].mean()) > 25


def test_same_seed_same_phantom_other_seed_other_phantom():
    a, b, c = make_phantom("mr", 5), make_phantom("mr", 5), make_phantom("mr", 6)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert not np.array_equal(a.mask, c.mask)


def test_lesion_sizes_vary():
    volumes = [int(p.mask.sum()) for p in make_phantoms(["ct"], 12, seed=1)]
    assert max(volumes) > 4 * min(volumes)


def test_echo_ventricle_beats():
    p = echo_clip(4, frames=40)
    assert p.image.dtype == np.uint8 and p.modality == "US"
    areas = p.mask.reshape(40, -1).sum(axis=1)
    assert areas.min() > 0 and areas.max() > 1.1 * areas.min()
    assert p.image[p.mask.astype(bool)].mean() < p.image[~p.mask.astype(bool)].mean() + 20


def test_make_phantoms_cycles_kinds():
    kinds = [p.kind for p in make_phantoms(KINDS, 6, seed=0)]
    assert kinds == ["ct", "mr", "echo", "ct", "mr", "echo"]


def test_demo_case_has_two_separate_lesions_in_one_volume():
    volume, lesions = ct_demo_case(seed=1, slices=24, size=128)
    assert volume.shape == (24, 128, 128) and len(lesions) == 2
    assert all(p.image is volume for p in lesions)
    assert not (lesions[0].mask & lesions[1].mask).any()


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown phantom kind"):
        make_phantom("xray", 0)
    with pytest.raises(ValueError, match="empty"):
        key_slice(np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match="empty"):
        mask_box(np.zeros((4, 4)))
