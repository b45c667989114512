"""What a mask measures (annotations.measure): volume in mL and RECIST-style axes on the key
slice, checked against hand-computed figures; stored with each revision, shown in the API and
the exports' manifest."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest

from annotator.annotations import services
from annotator.annotations.measure import measure, recist, volume_ml
from tests import factories
from tests.metrics.exports.conftest import accept_targets, export, open_zip


def ellipse(shape_yx, centre, a, b, angle=0.0, spacing=(1.0, 1.0)) -> np.ndarray:
    """Pixels whose centre lies in the ellipse of half-axes a (along `angle`) and b, in mm."""
    y, x = np.mgrid[: shape_yx[0], : shape_yx[1]]
    dx, dy = (x - centre[0]) * spacing[0], (y - centre[1]) * spacing[1]
    c, s = math.cos(angle), math.sin(angle)
    u, v = dx * c + dy * s, -dx * s + dy * c
    return ((u / a) ** 2 + (v / b) ** 2 <= 1).astype(np.uint8)


def test_volume_ml_is_voxels_times_voxel_volume():
    assert volume_ml(1000, (1, 1, 1)) == 1
    assert volume_ml(2500, (0.8, 0.8, 2.5)) == pytest.approx(4.0)


def test_axis_aligned_ellipse_reads_2a_by_2b():
    axes = recist(ellipse((80, 100), (50, 40), 20, 10), (1.0, 1.0))
    assert axes.long_mm == 40 and axes.short_mm == 20
    assert sorted(axes.long_ends) == [(30.0, 40.0), (70.0, 40.0)]
    assert sorted(axes.short_ends) == [(50.0, 30.0), (50.0, 50.0)]


@pytest.mark.parametrize("angle", [0.3, math.pi / 6, 1.1, 2.0])
def test_rotated_ellipse_within_a_voxel_and_perpendicular(angle):
    axes = recist(ellipse((128, 128), (64, 64), 30, 12, angle), (1.0, 1.0))
    assert axes.long_mm == pytest.approx(60, abs=1.5)
    assert axes.short_mm == pytest.approx(24, abs=1.5)
    (ax, ay), (bx, by) = axes.long_ends
    (cx, cy), (dx, dy) = axes.short_ends
    assert abs((bx - ax) * (dx - cx) + (by - ay) * (dy - cy)) < 1e-6 * axes.long_mm**2
    # the long axis runs along the ellipse's own axis (mod 180°)
    direction = math.atan2(by - ay, bx - ax) % math.pi
    assert min(abs(direction - angle % math.pi), math.pi - abs(direction - angle % math.pi)) < 0.1


def test_anisotropic_pixels_are_measured_in_mm():
    # half-axes 20 mm (x, 0.5 mm pixels: 40 px) and 10 mm (y, 1 mm pixels: 10 px)
    mask = ellipse((40, 120), (60, 20), 20, 10, spacing=(0.5, 1.0))
    axes = recist(mask, (0.5, 1.0))
    assert axes.long_mm == pytest.approx(40, abs=0.5)
    assert axes.short_mm == pytest.approx(20, abs=1.0)


def test_empty_and_single_voxel():
    assert recist(np.zeros((4, 4), np.uint8), (1, 1)) is None
    one = np.zeros((4, 4), np.uint8)
    one[1, 2] = 1
    axes = recist(one, (1, 1))
    assert (axes.long_mm, axes.short_mm) == (0, 0)


def test_measure_volume_and_key_slice():
    mask = np.zeros((5, 80, 100), np.uint8)
    mask[2] = ellipse((80, 100), (50, 40), 20, 10)
    mask[3, 40:42, 50:52] = 1
    out = measure(mask, (0.5, 0.5, 2.0), 2)
    assert out["volume_ml"] == pytest.approx(round(int(mask.sum()) * 0.5 / 1000, 4))
    assert (out["long_axis_mm"], out["short_axis_mm"], out["slice"]) == (20.0, 10.0, 2)
    assert measure(mask, (0.5, 0.5, 2.0), 0)["long_axis_mm"] is None  # nothing on that slice
    assert measure(mask, (1, 1, 1), 2, volume=False)["volume_ml"] is None


@pytest.fixture
def setup(project, people):
    case = factories.case(project, assignee=people["annotator"], shape_zyx=(6, 60, 80))
    return case, factories.target(case, key_index=3), people["annotator"]


def test_revision_stores_its_measures_and_the_api_shows_them(setup, client_for):
    case, target, user = setup
    mask = np.zeros((6, 60, 80), np.uint8)
    mask[3] = ellipse((60, 80), (40, 30), 16, 8, spacing=(0.8, 0.8))  # 32 × 16 mm
    mask[2, 28:32, 38:42] = 1
    rev = services.save_human_revision(
        target, actor=user, data=factories.mask_nifti(case, mask), parent_id=None
    ).revision
    rev.refresh_from_db()
    m = rev.measures
    assert m["volume_ml"] == pytest.approx(int(mask.sum()) * 0.8 * 0.8 * 2.5 / 1000, abs=1e-4)
    assert m["long_axis_mm"] == pytest.approx(32, abs=0.8)
    assert m["short_axis_mm"] == pytest.approx(16, abs=0.8)
    assert m["slice"] == 3
    body = client_for(user).get(f"/api/v1/targets/{target.pk}/").json()
    assert body["volume_ml"] == m["volume_ml"]
    assert body["long_axis_mm"] == m["long_axis_mm"]
    assert body["short_axis_mm"] == m["short_axis_mm"]
    revisions = client_for(user).get(f"/api/v1/targets/{target.pk}/revisions/").json()
    rows = revisions["results"] if isinstance(revisions, dict) else revisions
    assert rows[0]["measures"] == m


def test_manifest_has_the_measures(project, people):
    case = factories.case(project, shape_zyx=(8, 24, 32))
    mask = np.zeros((8, 24, 32), np.uint8)
    mask[4, 6:16, 8:28] = 1  # 20 × 10 voxels on the key slice (4), 0.8 mm pixels
    mask[5, 6:16, 8:28] = 1
    (t,) = accept_targets(project, people, case, [mask])
    t.refresh_from_db()
    assert t.key_index == 4
    zf = open_zip(export(people, project, "manifest", case=case))
    (row,) = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode())))
    assert float(row["volume_ml"]) == pytest.approx(400 * 0.8 * 0.8 * 2.5 / 1000, abs=1e-4)
    assert float(row["long_axis_mm"]) == pytest.approx(math.hypot(19, 9) * 0.8, abs=1e-3)
    assert float(row["short_axis_mm"]) > 0
    assert row["measured_slice"] == "4"
