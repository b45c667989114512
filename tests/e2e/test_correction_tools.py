"""Correction tools in a real browser (issue #16 item 3): interpolation between slices, the
threshold brush, lasso / polygon fill and the 3D view of the masks. Assertions are on data:
the viewer's per-slice counts, and the masks saved through the API."""

from __future__ import annotations

import json

import numpy as np
import pytest

from annotator.cases.models import CaseStatus
from tests import factories
from tests.e2e.scenes import blob_volume, store_mask

pytestmark = [pytest.mark.e2e]


def disc(shape_yx, center, radius) -> np.ndarray:
    yy, xx = np.mgrid[: shape_yx[0], : shape_yx[1]]
    return ((yy - center[0]) ** 2 + (xx - center[1]) ** 2 <= radius**2).astype(np.uint8)


def open_case(browse, people, project, volume, mask=None, key_index=None, query="?autosave=0"):
    annotator = people["annotator"]
    case = factories.case(project, array=volume, assignee=annotator, status=CaseStatus.IN_PROGRESS)
    target = factories.target(
        case, key_index=key_index, box=[4, 4, volume.shape[2] - 4, volume.shape[1] - 4]
    )
    if mask is not None:
        store_mask(target, mask, actor=annotator)
    b = browse(annotator)
    b.use_session()
    b.open_case(case.pk, query)
    return b, target


def slice_counts(b, target_id) -> list[int]:
    return b.page.evaluate("(id) => window.viewer.app.interp.sliceCounts(id)", target_id)


def go_to_slice(b, z):
    b.page.evaluate("(z) => { const a = window.viewer.app; const v = a.grid.toRasCoord([0, 0, z]);"
                    " const c = a.view.vox; c[2] = v[2]; a.view.setVox(c) }", z)  # fmt: skip
    b.wait_state(f"s.slice[2] === {z}")


def save(b):
    before = b.state()["targets"][0]["head"]
    b.key("Control+s")
    b.wait_state(f"!s.unsaved && s.targets[0].head !== {json.dumps(before)}")


def test_interpolation_fills_exactly_the_slices_between_as_one_undo_step(
    web, browse, api_for, people, project, artifacts
):
    vol = blob_volume(shape_zyx=(24, 48, 48))
    initial = np.zeros(vol.shape, np.uint8)
    initial[6] = disc(vol.shape[1:], (24, 24), 4)  # the model's mask on slice 6 only
    initial[20, 5:8, 5:8] = 1  # and something on another slice, which must stay
    b, target = open_case(browse, people, project, vol, initial, key_index=16)
    page = b.page
    assert b.state()["slice"][2] == 16

    # Draw the shape on slice 16 with the lasso (an octagon of radius ~9 voxels)...
    b.key("l")
    ring = [[24 + 9 * np.cos(a), 24 + 9 * np.sin(a), 16] for a in np.linspace(0, 2 * np.pi, 17)]
    b.drag([[float(x), float(y), z] for x, y, z in ring])
    b.wait_state("s.targets[0].voxels > 60")
    # ... and touch up slice 6 with the brush: the last two edited slices are 6 and 16.
    go_to_slice(b, 6)
    b.key("d")
    page.locator("[data-control=brush]").fill("2")
    b.drag([[24, 29, 6], [24, 30, 6]])  # just outside slice 6's disc
    before = slice_counts(b, target.pk)
    assert before[16] > 200 and before[6] > 0 and before[20] == 9
    assert all(before[z] == 0 for z in range(7, 16))
    assert page.locator("[data-action=interpolate]").inner_text().endswith("7–17")  # 1-based
    depth = b.state()["undoDepth"]

    b.key("i")
    s = b.wait_state(f"s.undoDepth === {depth + 1}")
    after = slice_counts(b, target.pk)
    page.screenshot(path=artifacts / "viewer-interpolate.png")
    # Exactly the slices strictly between are written; they grow from slice 6's shape to 16's.
    changed = [z for z in range(24) if after[z] != before[z]]
    assert changed == list(range(7, 16)), (before, after)
    assert all(after[z] <= after[z + 1] for z in range(6, 16)), after
    assert before[6] < after[11] < before[16]

    # One undo step takes the whole interpolation back; redo brings it again.
    b.key("Control+z")
    b.wait_state(f"s.undoDepth === {depth}")
    assert slice_counts(b, target.pk) == before
    b.key("Control+Shift+z")
    b.wait_state(f"s.undoDepth === {depth + 1}")
    assert slice_counts(b, target.pk) == after

    # What is saved is what the viewer shows.
    save(b)
    saved = api_for(people["annotator"]).mask(target.pk)
    assert saved.reshape(24, -1).sum(axis=1).tolist() == after
    assert s["targets"][0]["voxels"] == sum(after)

    # The app's own call (the bench's entry point): slices as state().slice[2] numbers.
    result = page.evaluate(
        "async (id) => { const t0 = performance.now();"
        " const r = await window.viewer.app.interpolate(id, 16, 6);"
        " r.wall = performance.now() - t0; return r }",
        target.pk,
    )  # fmt: skip
    assert result["slices"] == 9 and result["voxels"] == 0  # the same fill again: nothing changes
    assert b.state()["undoDepth"] == depth + 1
    assert not b.errors, b.errors


def test_interpolating_twenty_512_slices_fills_each_of_them(web, browse, people, project):
    """Twenty 512² slices, three times. The time is printed, not asserted (tests never assert on
    wall-clock time; bench/viewer_interact.py reports `interpolate_20_ms` against its goal)."""
    vol = np.full((24, 512, 512), 40, np.int16)
    mask = np.zeros(vol.shape, np.uint8)
    mask[1] = disc((512, 512), (250, 256), 40)
    mask[22] = disc((512, 512), (250, 256), 120)
    b, target = open_case(
        browse, people, project, vol, mask, key_index=12, query="?autosave=0&slicemode=0"
    )
    timings = []
    for a, z in [(1, 22), (22, 1), (1, 22)]:
        # a fresh fill each time: clear the slices between, then interpolate again
        b.page.evaluate(
            "(id) => { const a = window.viewer.app, t = a.target(id), n = 512 * 512;"
            " for (let z = 2; z < 22; z++) {"
            " const r = a.grid.toRasCoord([0, 0, z])[2]; t.mask.fill(0, r * n, (r + 1) * n) } }",
            target.pk,
        )  # fmt: skip
        r = b.page.evaluate(
            "async ([id, a, z]) => { const t0 = performance.now();"
            " const r = await window.viewer.app.interpolate(id, a, z);"
            " r.wall = performance.now() - t0; return r }",
            [target.pk, a, z],
        )  # fmt: skip
        assert r["slices"] == 20 and r["voxels"] > 0
        timings.append(round(r["wall"], 1))
    counts = slice_counts(b, target.pk)
    assert all(counts[z] > 0 for z in range(1, 23))
    print(json.dumps({"interpolate_20_slices_512_ms": timings}))


def test_threshold_brush_leaves_voxels_outside_the_range_untouched(
    web, browse, api_for, people, project, artifacts
):
    vol = blob_volume(shape_zyx=(24, 48, 48), radius=8.0)  # ~160 inside the sphere, ~40 around
    b, target = open_case(browse, people, project, vol, key_index=12)
    page = b.page
    b.key("t")
    page.locator("[data-control=threshold-min]").fill("110")
    page.locator("[data-control=threshold-max]").fill("400")
    assert b.state()["correction"]["threshold"] == {"on": True, "lo": 110, "hi": 400}
    assert b.state()["tool"] == "brush"
    page.locator("[data-control=brush]").fill("30")  # a brush much wider than the lesion
    b.drag([[8, 24, 12], [24, 24, 12], [40, 24, 12]])
    b.wait_state("s.targets[0].voxels > 0")
    page.screenshot(path=artifacts / "viewer-threshold.png")
    # The toolbar shows the range (a rebuild keeps it).
    assert page.locator("[data-control=threshold-min]").input_value() == "110"
    assert page.locator("[data-control=threshold-max]").input_value() == "400"
    save(b)
    saved = api_for(people["annotator"]).mask(target.pk)
    painted = saved.astype(bool)
    assert painted.sum() > 100
    assert ((vol[painted] >= 110) & (vol[painted] <= 400)).all()
    assert painted[12].sum() == painted.sum()  # one slice
    in_range = (vol[12] >= 110) & (vol[12] <= 400)
    assert not painted[12][~in_range].any()  # nothing outside the range was painted
    # The same stroke without the range paints the background too.
    b.key("t")
    assert b.state()["correction"]["threshold"]["on"] is False
    b.drag([[8, 24, 12], [24, 24, 12]])
    b.wait_state(f"s.targets[0].voxels > {int(painted.sum()) + 50}")
    assert not b.errors, b.errors


def test_lasso_and_polygon_fill_the_enclosed_voxels_on_the_slice(
    web, browse, people, project, artifacts
):
    vol = blob_volume(shape_zyx=(24, 48, 48))
    b, target = open_case(browse, people, project, vol, key_index=12)
    page = b.page
    b.key("l")
    # A lasso through voxel-centre half-way points: the voxels x 11..20, y 11..20 are inside.
    square = [
        [10.5, 10.5, 12],
        [20.5, 10.5, 12],
        [20.5, 20.5, 12],
        [10.5, 20.5, 12],
        [10.5, 10.7, 12],
    ]
    b.drag(square)
    s = b.wait_state("s.targets[0].voxels > 0")
    counts = slice_counts(b, target.pk)
    assert counts[12] == 100 and sum(counts) == 100, counts
    inside = page.evaluate(
        "(id) => { const a = window.viewer.app, t = a.target(id), out = [];"
        " for (const [x, y] of [[11, 11], [20, 20], [10, 15], [21, 15], [15, 10], [15, 21]])"
        " out.push(t.mask[a.grid.rasIndex(...a.grid.toRasCoord([x, y, 12]))]); return out }",
        target.pk,
    )  # fmt: skip
    assert inside == [1, 1, 0, 0, 0, 0]
    depth = s["undoDepth"]

    # A polygon by clicks: three corners, then the first again; a triangle on another slice.
    go_to_slice(b, 13)
    for corner in [[30.5, 30.5, 13], [40.5, 30.5, 13], [30.5, 40.5, 13], [30.5, 30.5, 13]]:
        page.mouse.click(*b.screen(corner))
    s = b.wait_state(f"s.undoDepth === {depth + 1}")
    counts = slice_counts(b, target.pk)
    assert 45 <= counts[13] <= 55, counts[13]  # 45 centres inside, 10 on the long edge
    assert counts[12] == 100
    page.screenshot(path=artifacts / "viewer-lasso.png")

    # Shift + lasso erases inside the outline; one undo step brings it back.
    go_to_slice(b, 12)
    page.keyboard.down("Shift")
    b.drag(
        [[14.5, 14.5, 12], [30.5, 14.5, 12], [30.5, 30.5, 12], [14.5, 30.5, 12], [14.5, 14.7, 12]]
    )
    page.keyboard.up("Shift")
    b.wait_state(f"s.undoDepth === {depth + 2}")
    assert slice_counts(b, target.pk)[12] == 100 - 36  # x, y 15..20 erased
    b.key("Control+z")
    b.wait_state(f"s.undoDepth === {depth + 1}")
    assert slice_counts(b, target.pk)[12] == 100
    assert not b.errors, b.errors


def faces(mask: np.ndarray) -> int:
    padded = np.pad(mask.astype(np.int8), 1)
    return int(sum(np.abs(np.diff(padded, axis=a)).sum() for a in range(3)))


def test_3d_view_shows_pieces_and_holes_and_costs_nothing_when_closed(
    web, browse, people, project, artifacts
):
    vol = blob_volume(shape_zyx=(24, 48, 48))
    z, y, x = np.ogrid[:24, :48, :48]
    mask = (((z - 12) * 2.5) ** 2 + ((y - 24) * 0.8) ** 2 + ((x - 24) * 0.8) ** 2 < 12**2).astype(
        np.uint8
    )
    mask[12, 23:25, 23:25] = 0  # a hole inside
    mask[3, 40, 40] = 1  # a stray voxel
    b, target = open_case(browse, people, project, vol, mask, key_index=12)
    page = b.page
    b.key("g")
    s = b.wait_state(
        "s.correction.render3d.on && s.correction.render3d.builds > 0", timeout=120_000
    )
    [info] = s["correction"]["render3d"]["targets"]
    assert info["pieces"] == 2 and info["sizes"] == [int(mask.sum()) - 1, 1]
    assert info["cavities"] == 1 and info["cavityVoxels"] == 4
    assert info["faces"] == faces(mask)
    page.locator(".vw-3d").wait_for()
    page.wait_for_timeout(300)
    page.screenshot(path=artifacts / "viewer-3d.png")
    assert "2 pieces" in page.locator(".vw-3d-info").inner_text()

    # Erase the stray voxel on its slice: the 3D view follows once the edit is done.
    go_to_slice(b, 3)
    b.key("e")
    page.locator("[data-control=brush]").fill("3")
    b.drag([[40, 40, 3], [40.2, 40, 3]])
    builds = s["correction"]["render3d"]["builds"]
    s = b.wait_state(
        f"s.correction.render3d.builds > {builds} && s.correction.render3d.targets[0].pieces === 1"
    )
    assert s["correction"]["render3d"]["targets"][0]["cavities"] == 1

    # Closed: edits rebuild nothing.
    b.key("g")
    s = b.wait_state("!s.correction.render3d.on")
    assert page.locator(".vw-3d").count() == 0
    builds = s["correction"]["render3d"]["builds"]
    b.key("d")
    go_to_slice(b, 12)
    b.drag([[10, 10, 12], [14, 10, 12]])
    page.wait_for_timeout(600)
    assert b.state()["correction"]["render3d"]["builds"] == builds
    assert not b.errors, b.errors
