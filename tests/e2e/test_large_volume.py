"""Opening a large volume: its key slice is on screen (fetched alone, painted without WebGL)
before the whole volume has arrived; then NiiVue takes over at that slice and editing works."""

from __future__ import annotations

import numpy as np
import pytest

from tests import factories
from tests.e2e.scenes import blob_volume

pytestmark = [pytest.mark.e2e]

# Over the viewer's slice-mode threshold (8 Mi voxels), where the key slice comes first.
SHAPE_ZYX = (64, 384, 384)
KEY = 40


def test_large_volume_shows_its_key_slice_first(web, browse, people, project, artifacts):
    assert np.prod(SHAPE_ZYX) > 8 * 1024 * 1024
    annotator = people["annotator"]
    volume = blob_volume(SHAPE_ZYX, center=(KEY, 200, 180), radius=20.0)
    case = factories.case(project, array=volume, assignee=annotator)
    factories.target(case, key_index=KEY, box=[160, 180, 200, 220])
    b = browse(annotator)
    b.use_session()
    b.open_case(case.pk, "?autosave=0")
    s = b.state()
    marks = s["marks"]
    requested = b.page.evaluate(
        "performance.getEntriesByType('resource').map((e) => e.name)"
        ".filter((n) => n.includes('/image'))"
    )
    assert any(n.endswith(f"/cases/{case.pk}/image?slice={KEY}") for n in requested), requested
    # The key slice was on screen first; the volume replaced it, and the preview is gone.
    assert "previewShown" in marks, marks
    assert marks["firstRender"] == marks["previewShown"] < marks["volumeRender"]
    assert b.page.locator(".vw-preview").count() == 0
    assert s["sliceMode"] is True and s["slice"][2] == KEY
    # The volume behind it is the whole image: painting works on it.
    b.key("d")
    b.drag([[170, 200, KEY], [190, 200, KEY]])
    assert b.wait_state("s.targets[0].voxels > 0")["targets"][0]["voxels"] > 0
    b.page.screenshot(path=artifacts / "viewer-large-volume.png")
    assert not b.errors
