"""Managing targets in the viewer (issue #16 item 4): rename, relabel, a note to the reviewer,
rev n per target, and delete; assertions on API data and the audit trail."""

from __future__ import annotations

import pytest

from annotator.cases.models import CaseStatus
from tests import factories
from tests.e2e.conftest import wait_js
from tests.e2e.scenes import blob_volume, store_mask

pytestmark = [pytest.mark.e2e]


def test_rename_relabel_note_and_delete_a_target(web, browse, api_for, people, project, artifacts):
    annotator, reviewer = people["annotator"], people["reviewer"]
    volume = blob_volume()
    case = factories.case(project, array=volume, assignee=annotator, status=CaseStatus.IN_PROGRESS)
    keep = factories.target(case, key_index=12, box=[14, 14, 34, 34])
    gone = factories.target(case, key_index=12, box=[2, 2, 10, 10])
    first = store_mask(keep, volume > 100, actor=annotator)
    store_mask(keep, volume > 90, actor=annotator, parent=first.pk)
    store_mask(gone, volume > 150, actor=annotator)
    api = api_for(annotator)

    me = browse(annotator)
    me.use_session()
    me.open_case(case.pk, "?autosave=0")
    page = me.page
    item = page.locator(f"li[data-target='{keep.pk}']")
    # rev n of this target, not a revision id
    assert item.locator("[data-rev]").inner_text() == "rev 2"
    assert page.locator(f"li[data-target='{gone.pk}'] [data-rev]").inner_text() == "rev 1"
    assert item.locator("[data-name]").inner_text() == "lesion #1"

    item.locator("input[data-field=name]").fill("segment VII")
    item.locator("input[data-field=name]").press("Enter")
    wait_js(page, f"document.querySelector(\"li[data-target='{keep.pk}'] [data-name]\")"
                  ".textContent === 'segment VII'")  # fmt: skip
    item.locator("select[data-field=label]").select_option("cyst")
    item.locator("textarea[data-field=note]").fill("faint margin on slices 10-13")
    page.locator("section.case").click()  # blur: the note is sent
    me.wait_state(
        f"s.targets.some((t) => t.id === {keep.pk} && t.label === 'cyst' && "
        "t.note.startsWith('faint'))"
    )
    body = api.json(f"/targets/{keep.pk}/")
    assert (body["name"], body["label"], body["note"], body["head_number"]) == (
        "segment VII", "cyst", "faint margin on slices 10-13", 2)  # fmt: skip

    page.locator(f"li[data-target='{gone.pk}']").click()
    page.once("dialog", lambda d: d.accept())
    page.locator(f"li[data-target='{gone.pk}'] [data-action=delete-target]").click()
    me.wait_state("s.targets.length === 1")
    page.screenshot(path=artifacts / "viewer-manage-targets.png")
    # gone from the API, its history kept in the audit trail
    assert [t["id"] for t in api.json(f"/cases/{case.pk}/targets/")] == [keep.pk]
    assert api.session.get(f"{api.url}/targets/{gone.pk}/", timeout=30).status_code == 404
    audit = api_for(people["admin"]).json(
        f"/audit/?object_type=annotations.target&object_id={gone.pk}"
    )
    events = audit.get("results", audit)
    deleted = [e for e in events if e["action"] == "target.delete"]
    assert len(deleted) == 1 and deleted[0]["data"]["revisions"] == 1, events
    revisions = api_for(people["admin"]).json(
        f"/audit/?action=revision.create&project={project.pk}"
    )
    assert any(e["data"]["target"] == gone.pk for e in revisions.get("results", revisions))

    page.click("[data-action=submit]")
    me.wait_state("s.caseStatus === 'submitted'")
    rev = browse(reviewer)
    rev.use_session()
    rev.open_case(case.pk)
    assert rev.state()["mode"] == "review"
    note = rev.page.locator(f"[data-note='{keep.pk}']")
    assert "faint margin on slices 10-13" in note.inner_text()
    assert rev.page.locator(f"li[data-target='{gone.pk}']").count() == 0
    rev.page.screenshot(path=artifacts / "viewer-review-note.png")
    assert not me.errors and not rev.errors, (me.errors, rev.errors)
