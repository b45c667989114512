"""Value and geometry helpers: rescale to the canonical dtype, LPS <-> RAS affines."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.cases.imaging import ImportRejected
from annotator.cases.imaging.geometry import ras_affine, rescale_stack, split_affine


@pytest.mark.parametrize(
    ("raw", "slopes", "intercepts", "dtype"),
    [
        (np.arange(24, dtype=np.uint16).reshape(2, 3, 4), 1, -1024, np.int16),
        (np.arange(24, dtype=np.uint16).reshape(2, 3, 4), [1, 2], [-1024, 0], np.int16),
        (np.arange(24, dtype=np.int16).reshape(2, 3, 4) - 12, -1, 5, np.int16),
        (np.full((2, 3, 4), 60000, np.uint16), 1, 0, np.float32),  # > 32767
        (np.full((2, 3, 4), 40000, np.uint16), 1, -40000, np.int16),  # fits after rescale
        (np.arange(24, dtype=np.uint16).reshape(2, 3, 4), 0.5, 0, np.float32),
        (np.arange(24, dtype=np.uint16).reshape(2, 3, 4), 1, 0.25, np.float32),
        (np.arange(24, dtype=np.uint8).reshape(2, 3, 4), 1, 0, np.int16),
    ],
)
def test_rescale_stack(raw, slopes, intercepts, dtype):
    out = rescale_stack(raw, slopes, intercepts)
    n = raw.shape[0]
    s = np.broadcast_to(np.asarray(slopes, float), (n,))[:, None, None]
    b = np.broadcast_to(np.asarray(intercepts, float), (n,))[:, None, None]
    assert out.dtype == dtype
    np.testing.assert_allclose(out.astype(np.float64), raw * s + b, rtol=1e-6)


def test_int16_without_rescale_is_not_copied():
    raw = np.zeros((2, 3, 4), np.int16)
    assert rescale_stack(raw) is raw


def test_affine_round_trip_and_lps_ras_flip():
    direction = np.array([[0, 0, 1], [1, 0, 0], [0, -1, 0]], float)  # a permuted, flipped grid
    affine = ras_affine((0.5, 0.7, 3.0), (10.0, -20.0, 30.0), direction.reshape(-1))
    # the z axis (third column) points +L in LPS, i.e. -R in RAS; y points -S either way
    np.testing.assert_allclose(affine[:3, 2], [-3.0, 0, 0])
    np.testing.assert_allclose(affine[:3, 1], [0, 0, -0.7])
    np.testing.assert_allclose(affine[:3, 3], [-10.0, 20.0, 30.0])
    spacing, origin, back = split_affine(affine, "x")
    assert spacing == pytest.approx((0.5, 0.7, 3.0))
    assert origin == pytest.approx((10.0, -20.0, 30.0))
    np.testing.assert_allclose(np.reshape(back, (3, 3)), direction, atol=1e-12)


def test_degenerate_affines_are_rejected():
    with pytest.raises(ImportRejected, match="voxel size is zero"):
        split_affine(np.diag([1.0, 0.0, 1.0, 1.0]), "flat.nii")
    sheared = np.eye(4)
    sheared[0, 1] = 0.3
    with pytest.raises(ImportRejected, match="not perpendicular"):
        split_affine(sheared, "shear.nii")
