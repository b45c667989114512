"""The annotator's day in a real browser: sign in, next case, AI box, corrections, save, reload,
submit; then a reviewer accepts. Assertions are on API data."""

from __future__ import annotations

import pytest

from annotator.cases.models import CaseStatus
from tests import factories
from tests.e2e.scenes import PASSWORD, blob_volume

pytestmark = [pytest.mark.e2e]


def test_annotate_presegment_correct_save_submit_review(
    web, browse, api_for, people, project, tmp_path, artifacts
):
    factories.tiny_model_version(tmp_path)
    case = factories.case(project, array=blob_volume(), status=CaseStatus.READY)  # unassigned
    web.start_worker()  # warms up while the browser works
    annotator, reviewer = people["annotator"], people["reviewer"]
    api = api_for(annotator)

    me = browse(annotator)
    me.sign_in(PASSWORD)
    page = me.page
    page.goto(web.url + "/worklist/")
    page.screenshot(path=artifacts / "worklist-empty.png")
    page.click("#next-case")
    page.wait_for_url(f"{web.url}/cases/{case.pk}/")
    me.wait_ready()
    z = me.state()["slice"][2]

    # A new target from a box on the current slice; the model's mask arrives live.
    page.select_option(".new-target select", "lesion")
    me.drag([[14, 14, z], [34, 34, z]])
    s = me.wait_state(
        "s.targets.length === 1 && s.targets[0].job && s.targets[0].job.status === 'done' "
        "&& s.targets[0].head === s.targets[0].job.applied",
        timeout=180_000,
    )
    target_id = s["targets"][0]["id"]
    target = api.json(f"/targets/{target_id}/")
    assert target["head_source"] == "model" and target["key_index"] == z
    model_revision = target["head"]
    assert s["targets"][0]["voxels"] == target["head_voxel_count"]

    # Re-prompt on another slice: a positive point there, then Enter.
    first_job = s["targets"][0]["job"]["id"]
    me.key("ArrowUp")
    me.key("ArrowUp")
    z2 = me.wait_state(f"s.slice[2] !== {z}")["slice"][2]
    me.key("p")
    x, y = me.screen([24, 24, z2])
    page.mouse.click(x, y)
    me.key("Enter")
    s = me.wait_state(
        f"s.targets[0].job && s.targets[0].job.id > {first_job} && "
        "s.targets[0].job.status === 'done' && s.targets[0].head === s.targets[0].job.applied",
        timeout=180_000,
    )
    job = api.json(f"/jobs/{s['targets'][0]['job']['id']}/")
    [again] = [p for p in job["prompts"] if p["index"] == z2]
    [(px, py, positive)] = again["points"]
    assert abs(px - 24) <= 0.5 and abs(py - 24) <= 0.5 and positive == 1, again
    assert any(p["index"] == z and p["box"] for p in job["prompts"])  # the first box is kept
    model_revision = s["targets"][0]["head"]
    me.key("ArrowDown")
    me.key("ArrowDown")
    me.wait_state(f"s.slice[2] === {z}")

    # Corrections: clear this slice, paint a stroke, erase part of it.
    me.key("x")
    cleared = me.wait_state("true")["targets"][0]["voxels"]
    me.key("d")
    page.locator("[data-control=brush]").fill("3")
    me.drag([[10, 24, z], [20, 24, z], [38, 24, z]])
    painted = me.wait_state(f"s.targets[0].voxels > {cleared}")["targets"][0]["voxels"]
    me.key("e")
    me.drag([[30, 24, z], [38, 24, z]])
    erased = me.wait_state(f"s.targets[0].voxels < {painted}")["targets"][0]["voxels"]
    me.key("Control+z")
    me.wait_state(f"s.targets[0].voxels === {painted}")
    me.key("Control+Shift+z")
    me.wait_state(f"s.targets[0].voxels === {erased}")
    assert me.state()["undoDepth"] >= 2  # (model result,) (clear,) brush, eraser

    me.key("Control+s")
    s = me.wait_state(f"!s.unsaved && s.targets[0].head !== {model_revision}")
    page.screenshot(path=artifacts / "viewer-annotate.png")
    target = api.json(f"/targets/{target_id}/")
    assert target["head_source"] == "human"
    assert target["head_voxel_count"] == erased
    revision = api.json(f"/targets/{target_id}/revisions/{target['head']}/")
    assert revision["parent"] == model_revision
    assert revision["active_seconds"] and revision["active_seconds"] > 0
    mask = api.mask(target_id)
    assert int(mask.sum()) == erased
    row = mask[z, 24]
    assert row[12:18].all(), row  # painted
    assert not row[32:37].any(), row  # erased

    # A reload shows the saved edit.
    page.reload()
    me.wait_ready()
    assert me.state()["targets"][0]["voxels"] == erased

    me.key("?")
    page.locator(".vw-help").wait_for()
    page.screenshot(path=artifacts / "viewer-help.png")
    me.key("Escape")

    page.click("[data-action=submit]")
    me.wait_state("s.caseStatus === 'submitted'")
    assert api.json(f"/cases/{case.pk}/")["status"] == "submitted"
    page.goto(web.url + "/worklist/?status=all")
    page.screenshot(path=artifacts / "worklist.png")

    # The reviewer sees it in the queue, looks at the difference and accepts.
    rev = browse(reviewer)
    rev.sign_in(PASSWORD)
    rev.page.goto(web.url + "/review/")
    rev.page.screenshot(path=artifacts / "review-queue.png")
    rev.page.click(f"#review-queue tr[data-case='{case.pk}'] a.button")
    rev.wait_ready()
    assert rev.state()["mode"] == "review"
    rev.page.click("[data-display=diff]")
    rev.page.wait_for_timeout(300)
    rev.page.screenshot(path=artifacts / "viewer-review-diff.png")
    rev.page.click(f"li[data-target='{target_id}'] [data-action=accept]")
    rev.wait_state("s.caseStatus === 'accepted'")
    assert api_for(reviewer).json(f"/cases/{case.pk}/")["status"] == "accepted"

    boss = browse(people["manager"])
    boss.use_session()
    boss.page.goto(f"{web.url}/projects/{project.pk}/")
    assert boss.page.locator("#progress li[data-status=accepted] b").inner_text() == "1"
    boss.page.screenshot(path=artifacts / "project.png")
    assert not me.errors and not rev.errors, (me.errors, rev.errors)
