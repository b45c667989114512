"""Echo clips: play, scrub, edit one frame (only that frame changes), propagate from it."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.cases.models import CaseStatus
from tests import factories
from tests.e2e.scenes import echo_clip, store_mask

pytestmark = [pytest.mark.e2e]


def test_echo_scrub_edit_one_frame_and_propagate(web, browse, api_for, people, tmp_path, artifacts):
    annotator = people["annotator"]
    project = factories.project("echo", kind="video", modality="US", annotator=[annotator])
    clip = echo_clip()
    case = factories.case(project, array=clip, assignee=annotator, status=CaseStatus.IN_PROGRESS)
    target = factories.target(case, key_index=0, box=[20, 12, 44, 36])
    initial = (clip > 120).astype(np.uint8)
    store_mask(target, initial, actor=annotator)
    factories.tiny_model_version(tmp_path)
    web.start_worker()

    b = browse(annotator)
    b.use_session()
    b.open_case(case.pk, "?autosave=0")
    page = b.page
    assert b.state()["layout"] == "axial"
    page.click(".vw-player .play")
    # Wait on the frame, not a timer: a loaded machine may draw the first frames late.
    b.wait_state("s.slice[2] !== 0", timeout=30_000)  # it played
    page.click(".vw-player .play")

    page.locator(".vw-player input[type=range]").fill("7")
    assert round(b.state()["slice"][2]) == 7
    b.key("d")
    page.locator("[data-control=brush]").fill("4")
    b.drag([[4, 4, 7], [16, 4, 7]])
    b.wait_state(f"s.targets[0].voxels > {int(initial.sum())}")
    page.screenshot(path=artifacts / "viewer-echo.png")
    b.key("Control+s")
    b.wait_state("!s.unsaved && s.targets[0].head !== null")
    api = api_for(annotator)
    saved = api.mask(target.pk)
    changed = np.nonzero((saved != initial).reshape(len(clip), -1).any(axis=1))[0]
    assert changed.tolist() == [7]

    before = api.json(f"/targets/{target.pk}/")["head"]
    page.click("[data-action=propagate]")
    s = b.wait_state(
        f"s.targets[0].job && s.targets[0].job.status === 'done' && s.targets[0].head > {before}",
        timeout=180_000,
    )
    head = api.json(f"/targets/{target.pk}/")
    assert head["head_source"] == "model" and head["head"] == s["targets"][0]["head"]
    job = api.json(f"/jobs/{s['targets'][0]['job']['id']}/")
    assert job["prompts"] == [{"index": 7, "box": None, "points": [], "mask_revision": before}]
