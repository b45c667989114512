"""Rework after a rejection: submitting the rejected mask unchanged is refused with the reviewer's
comment (the case stays with the annotator); a corrected mask goes to review and is accepted."""

from __future__ import annotations

import pytest

from annotator.annotations import workflow
from annotator.cases.models import CaseStatus
from tests import factories
from tests.e2e.scenes import blob_volume, store_mask

pytestmark = [pytest.mark.e2e]


def test_unchanged_rejected_target_cannot_be_resubmitted(
    web, browse, api_for, people, project, artifacts
):
    annotator, reviewer = people["annotator"], people["reviewer"]
    volume = blob_volume()
    case = factories.case(project, array=volume, assignee=annotator, status=CaseStatus.IN_PROGRESS)
    target = factories.target(case, key_index=12, box=[14, 14, 34, 34])
    store_mask(target, volume > 100, actor=annotator)  # the lesion, less its rim
    workflow.submit(case, actor=annotator)
    workflow.review_case(case, actor=reviewer, decision="reject", comment="extend the rim")
    api = api_for(annotator)
    assert api.json(f"/cases/{case.pk}/")["status"] == "rejected"

    me = browse(annotator)
    me.use_session()
    me.open_case(case.pk, "?autosave=0")
    me.page.click("[data-action=submit]")
    refusal = me.page.locator(".vw-toasts .toast.error", has_text="extend the rim")
    refusal.wait_for()
    assert "not corrected" in refusal.inner_text()
    me.page.screenshot(path=artifacts / "viewer-resubmit-refused.png")
    assert api.json(f"/cases/{case.pk}/")["status"] in ("rejected", "in_progress")

    before = me.state()["targets"][0]["voxels"]
    me.key("d")
    me.drag([[10, 24, 12], [38, 24, 12]])
    me.wait_state(f"s.targets[0].voxels > {before}")
    me.key("Control+s")
    me.wait_state("!s.unsaved")
    me.page.click("[data-action=submit]")
    me.wait_state("s.caseStatus === 'submitted'")

    rev = browse(reviewer)
    rev.use_session()
    rev.open_case(case.pk)
    assert rev.state()["mode"] == "review"
    rev.page.click(f"li[data-target='{target.pk}'] [data-action=accept]")
    rev.wait_state("s.caseStatus === 'accepted'")
    assert api_for(reviewer).json(f"/cases/{case.pk}/")["status"] == "accepted"
    assert not me.errors and not rev.errors, (me.errors, rev.errors)
