"""Flagged pre-segmentations in the browser (issue #14 item 4): a model mask on the image edge,
outside its box, shows as a flag in the worklist and on its target in the viewer, whose slice
links move the view there."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.annotations import services
from annotator.cases.models import CaseStatus
from tests import factories
from tests.e2e.scenes import blob_volume

pytestmark = [pytest.mark.e2e]


def test_a_flagged_target_in_the_worklist_and_the_viewer(web, browse, people, project, artifacts):
    annotator = people["annotator"]
    volume = blob_volume()  # (24, 48, 48), lesion around slice 12
    case = factories.case(project, array=volume, assignee=annotator, status=CaseStatus.READY)
    target = factories.target(case, key_index=12, box=[16, 16, 32, 32])
    bad = np.zeros(volume.shape, np.uint8)
    bad[9:16, 30:46, 0:10] = 1  # on the body edge, outside the box: what the bad starter did
    saved = services.save_model_revision(
        target, bad, model_version=None, parent_id=None, idempotency_key="e2e-flags"
    ).revision
    codes = [f["code"] for f in saved.flags]
    assert codes == ["off_box", "border"]

    me = browse(annotator)
    me.use_session()
    me.page.goto(f"{me.stack.url}/worklist/?status=all")
    badge = me.page.locator(f'tr[data-case="{case.pk}"] .flag-badge')
    badge.wait_for()
    assert "1 flagged" in badge.inner_text()
    me.page.screenshot(path=artifacts / "worklist-flagged.png")

    me.open_case(case.pk, "?autosave=0")
    flags = me.page.locator(f'[data-flags="{target.pk}"]')
    flags.wait_for()
    assert flags.locator('[data-flag="off_box"]').count() == 1
    border = flags.locator('[data-flag="border"]')
    assert "Touches the image edge" in border.inner_text()
    me.page.screenshot(path=artifacts / "viewer-flagged-target.png")
    border.locator('.slice-link[data-slice="9"]').click()
    me.wait_state("Math.round(s.slice[2]) === 9")
    me.page.screenshot(path=artifacts / "viewer-flagged-jump.png")
