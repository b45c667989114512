"""Navigation, reading and measuring in a real browser (issue #16 items 1, 2, 5): zoom at the
cursor keeps the voxel under it, the readout is the volume's value at that voxel, a ruler's
length is the distance from the voxel spacing, the 3 views share one crosshair, the preset menu
shows the window in use, and a target's figures in the viewer are the API's. Assertions are on
data; screenshots go to artifacts/."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests import factories
from tests.e2e.scenes import blob_volume, store_mask

pytestmark = [pytest.mark.e2e]

SHAPE = (24, 48, 48)  # z, y, x; spacing 0.8, 0.8, 2.5 mm (factories)
SPACING = (0.8, 0.8, 2.5)
KEY = 12


def ellipse_mask() -> np.ndarray:
    mask = np.zeros(SHAPE, np.uint8)
    y, x = np.mgrid[: SHAPE[1], : SHAPE[2]]
    mask[KEY][((x - 24) / 12) ** 2 + ((y - 22) / 6) ** 2 <= 1] = 1
    mask[KEY - 1][((x - 24) / 8) ** 2 + ((y - 22) / 4) ** 2 <= 1] = 1
    return mask


def hover(b, native):
    """Move the mouse onto a voxel's centre and return the readout the viewer shows there."""
    x, y = b.screen(native)
    b.page.mouse.move(x, y)
    b.wait_state(f"s.readout && s.readout.native.join() === '{','.join(map(str, native))}'")
    return b.state()["readout"], (x, y)


def test_zoom_readout_ruler_crosshair_presets_measures(
    web, browse, api_for, people, project, artifacts
):
    annotator = people["annotator"]
    volume = blob_volume(SHAPE, center=(KEY, 22, 24), radius=7.0)
    case = factories.case(project, array=volume, assignee=annotator)
    target = factories.target(case, key_index=KEY, box=[10, 14, 38, 30])
    store_mask(target, ellipse_mask(), actor=annotator)
    b = browse(annotator)
    b.use_session()
    b.open_case(case.pk, "?autosave=0&slicemode=0")
    page = b.page
    b.key("1")  # axial
    b.wait_state("s.layout === 'axial'")
    b.key("v")

    # The readout is the volume's value (HU) at the voxel under the cursor.
    for native in ([30, 20, KEY], [5, 40, KEY], [24, 22, KEY]):
        readout, _ = hover(b, native)
        x, y, z = native
        assert readout["value"] == volume[z, y, x], (native, readout)
        assert readout["native"] == native
    assert page.locator(".vw-readout").inner_text().startswith("HU ")

    # Ctrl+wheel zooms at the cursor: the voxel under it stays under it, others move away.
    anchor, other = [30, 20, KEY], [10, 35, KEY]
    _, (ax, ay) = hover(b, anchor)
    ox, oy = b.screen(other)
    page.keyboard.down("Control")
    page.mouse.wheel(0, -200)
    page.keyboard.up("Control")
    s = b.wait_state("s.zoom[3] > 1.2")
    assert s["zoom"][3] == pytest.approx(1.25**2)
    page.mouse.move(ax + 1, ay)
    page.mouse.move(ax, ay)
    assert b.wait_state("s.readout !== null")["readout"]["native"] == anchor
    nx, ny = b.screen(anchor)
    assert abs(nx - ax) < 1 and abs(ny - ay) < 1, ((ax, ay), (nx, ny))
    ox2, oy2 = b.screen(other)
    assert math.hypot(ox2 - nx, oy2 - ny) == pytest.approx(
        1.5625 * math.hypot(ox - ax, oy - ay), rel=0.02
    )
    # keys zoom too, a middle-drag pans, 0 fits
    b.key("=")
    assert b.wait_state("s.zoom[3] > 1.9")["zoom"][3] == pytest.approx(1.25**3)
    start = b.screen(anchor)
    page.mouse.move(*start)
    page.mouse.down(button="middle")
    page.mouse.move(start[0] - 60, start[1] + 40, steps=4)
    page.mouse.up(button="middle")
    moved = b.screen(anchor)
    assert moved[0] == pytest.approx(start[0] - 60, abs=1.5) and moved[1] == pytest.approx(
        start[1] + 40, abs=1.5
    )
    page.screenshot(path=artifacts / "viewer-zoom-pan.png")
    b.key("0")
    assert b.wait_state("s.zoom[3] === 1")["zoom"] == [0, 0, 0, 1]

    # A ruler's length is the distance from the voxel spacing.
    b.key("r")
    b.drag([[8, 10, KEY], [38, 30, KEY]])
    (ruler,) = b.wait_state("s.rulers.length === 1")["rulers"]
    (ax_, ay_, az_), (bx_, by_, bz_) = ruler["a"], ruler["b"]
    expected = math.hypot(
        (bx_ - ax_) * SPACING[0], (by_ - ay_) * SPACING[1], (bz_ - az_) * SPACING[2]
    )
    assert ruler["mm"] == pytest.approx(expected, abs=1e-6)
    assert ruler["mm"] == pytest.approx(math.hypot(30 * 0.8, 20 * 0.8), abs=0.1)
    page.screenshot(path=artifacts / "viewer-ruler.png")

    # The target's figures in the viewer are the API's (the same rules on both sides).
    api_target = api_for(annotator).json(f"/targets/{target.pk}/")
    m = b.state()["targets"][0]["measures"]
    assert api_target["volume_ml"] == pytest.approx(
        int(ellipse_mask().sum()) * 0.8 * 0.8 * 2.5 / 1000, abs=1e-4
    )
    assert m["volumeMl"] == pytest.approx(api_target["volume_ml"], abs=1e-4)
    assert m["longMm"] == pytest.approx(api_target["long_axis_mm"], abs=1e-3)
    assert m["shortMm"] == pytest.approx(api_target["short_axis_mm"], abs=1e-3)
    assert api_target["long_axis_mm"] == pytest.approx(24 * 0.8, abs=1e-3)  # 2 × 12 voxels
    assert api_target["short_axis_mm"] == pytest.approx(12 * 0.8, abs=1e-3)
    side = page.locator(f"[data-measures='{target.pk}']").inner_text()
    assert "mL" in side and "×" in side
    # ... and follow the mask: erase part of it on the key slice.
    b.key("e")
    b.drag([[14, 22, KEY], [18, 22, KEY]])
    m2 = b.wait_state("s.targets[0].measures.longMm < " + str(m["longMm"] - 0.5))["targets"][0][
        "measures"
    ]
    assert m2["volumeMl"] < m["volumeMl"]
    page.screenshot(path=artifacts / "viewer-measures.png")

    # The window preset menu shows the preset in use; a dragged window reads "Custom".
    b.key("Shift+2")
    b.wait_state("true")
    assert page.locator("select[aria-label='window preset']").evaluate("(e) => e.value") == "lung"
    assert page.locator("select[aria-label='window preset']").get_attribute("data-preset") == "lung"

    # One crosshair for the three views: a click in the axial view moves the other two there.
    b.key("v")
    b.key("4")
    b.wait_state("s.layout === 'multi'")
    x, y = page.evaluate("(n) => window.viewer.screenOf(n, 0)", [31, 17, KEY])
    page.mouse.click(x, y)
    assert b.wait_state("s.slice[0] === 31 && s.slice[1] === 17")["slice"] == [31, 17, KEY]
    x, y = page.evaluate("(n) => window.viewer.screenOf(n, 1)", [12, 17, 5])  # coronal
    page.mouse.click(x, y)
    assert b.wait_state("s.slice[2] === 5")["slice"] == [12, 17, 5]
    page.screenshot(path=artifacts / "viewer-crosshair-3views.png")

    # The help lists the new keys (it is generated from the same table as the handlers).
    b.key("?")
    help_text = page.locator(".vw-help").inner_text()
    for words in ("Ctrl+Wheel", "Middle-drag", "fit: reset zoom and pan", "ruler"):
        assert words in help_text, words
    page.screenshot(path=artifacts / "viewer-help.png")
    assert not b.errors
