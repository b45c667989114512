"""Flagged pre-segmentations (issue #14 item 4): every model mask is checked when it is saved,
the flags are stored with the revision and shown in the API, the worklist and the dashboard, and
a case with an empty model mask never becomes ready silently."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.annotations import services
from annotator.annotations.models import JobStatus, MaskRevision
from annotator.audit.models import AuditEvent
from annotator.cases.models import CaseStatus
from annotator.metrics import selectors as metrics_selectors
from annotator.modelops import presegment
from inference.sam2_adapter import FrameScore
from inference.segtask import SegmentationTask
from inference.tracking import TrackResult
from tests import factories

SHAPE = (6, 40, 48)  # z, y, x
BOX = [10, 8, 30, 28]


def good_mask() -> np.ndarray:
    mask = np.zeros(SHAPE, np.uint8)
    mask[2:5, 10:26, 12:28] = 1  # inside the box on the key slice (3)
    return mask


def fake_engine(monkeypatch, mask_for_target, iou=0.9, disagreement=None):
    """The engine returns ``mask_for_target(target_key_index)`` with confident scores (and the
    two directions' ``disagreement``)."""

    def segment_detailed(self, loaded, image, prompts, **kw):
        mask = mask_for_target(prompts[0].index).copy()
        scores = {z: FrameScore(iou, 4.0) for z in range(mask.shape[0])}
        track = TrackResult(mask.astype(bool), {}, {}, [], scores=scores)
        track.disagreement = disagreement
        return mask, track

    monkeypatch.setattr(SegmentationTask, "segment_detailed", segment_detailed)


@pytest.fixture
def model(db, tmp_path):
    return factories.tiny_model_version(tmp_path)


def test_a_real_run_stores_its_checks(project, people, model, django_capture_on_commit_callbacks):
    case = factories.case(project, assignee=people["annotator"], shape_zyx=SHAPE)
    target = factories.target(case, key_index=3, box=BOX)
    with django_capture_on_commit_callbacks(execute=True):
        job = presegment.request(target, actor=people["annotator"])
    job.refresh_from_db()
    assert job.status == JobStatus.DONE
    flags = job.result.flags
    assert isinstance(flags, list)
    assert all(f["code"] in ("empty", "off_box", "border", "area_jump", "low_confidence")
               for f in flags)  # fmt: skip
    if flags:  # the random tiny model's mask is whatever it is; the message says so
        assert "flagged: " in job.message


def test_a_good_mask_has_no_flag(project, people, model, monkeypatch, client_for,
                                 django_capture_on_commit_callbacks):  # fmt: skip
    fake_engine(monkeypatch, lambda key: good_mask())
    case = factories.case(project, assignee=people["annotator"], shape_zyx=SHAPE)
    target = factories.target(case, key_index=3, box=BOX)
    with django_capture_on_commit_callbacks(execute=True):
        job = presegment.request(target, actor=people["annotator"])
    job.refresh_from_db()
    assert job.result.flags == [] and "flagged" not in job.message
    body = client_for(people["annotator"]).get(f"/api/v1/targets/{target.pk}/").json()
    assert body["flags"] == [] and body["flags_revision"] == job.result_id


def test_an_empty_mask_is_flagged_and_the_case_is_not_silently_ready(
    project, people, model, monkeypatch, client_for, django_capture_on_commit_callbacks
):
    empty = np.zeros(SHAPE, np.uint8)
    fake_engine(monkeypatch, lambda key: empty if key == 1 else good_mask())
    case = factories.case(project, status=CaseStatus.NEW, shape_zyx=SHAPE)
    missed = factories.target(case, key_index=1, box=BOX)
    fine = factories.target(case, key_index=3, box=BOX, label="cyst")
    with django_capture_on_commit_callbacks(execute=True):
        assert presegment.queue_case(case)
    case.refresh_from_db()
    # Decision: the case becomes ready (someone must draw the missed target by hand), never
    # silently: the status change carries the counts, and every page shows the flag.
    assert case.status == CaseStatus.READY
    event = AuditEvent.objects.filter(
        action="case.status", object_id=str(case.pk), data__to=CaseStatus.READY
    ).get()
    assert event.data["flagged_targets"] == 1 and event.data["empty_masks"] == 1

    missed.refresh_from_db()
    assert [f["code"] for f in missed.head.flags] == ["empty"]
    fine.refresh_from_db()
    assert fine.head.flags == []
    job = missed.jobs.get()
    assert job.message.endswith("flagged: empty")

    # The API: per target, and per revision.
    client = client_for(people["manager"])
    targets = {t["id"]: t for t in client.get(f"/api/v1/cases/{case.pk}/targets/").json()}
    assert [f["code"] for f in targets[missed.pk]["flags"]] == ["empty"]
    assert targets[missed.pk]["flags_revision"] == missed.head_id
    assert targets[fine.pk]["flags"] == []
    revisions = client.get(f"/api/v1/targets/{missed.pk}/revisions/").json()
    rows = revisions["results"] if isinstance(revisions, dict) else revisions
    assert rows[0]["flags"][0]["code"] == "empty"


def test_flags_follow_the_prompt_of_a_reprompt(project, people, model, monkeypatch,
                                                django_capture_on_commit_callbacks):  # fmt: skip
    """A re-prompt with a box on another slice is checked against that box."""
    mask = np.zeros(SHAPE, np.uint8)
    mask[0:2, 30:38, 36:46] = 1  # slices 0-1, bottom right
    fake_engine(monkeypatch, lambda key: mask)
    case = factories.case(project, assignee=people["annotator"], shape_zyx=SHAPE)
    target = factories.target(case, key_index=3, box=BOX)
    with django_capture_on_commit_callbacks(execute=True):
        job = presegment.request(
            target,
            actor=people["annotator"],
            extra_prompts=[{"index": 1, "box": [34, 28, 47, 39]}],
            replace_prompt=True,
        )
    job.refresh_from_db()
    assert job.status == JobStatus.DONE
    assert job.result.flags == []  # against the target's own box on slice 3 it would be off_box


def test_worklist_shows_flagged_targets(project, people, client):
    case = factories.case(project, assignee=people["annotator"], shape_zyx=SHAPE)
    target = factories.target(case, key_index=3, box=BOX)
    services.save_model_revision(
        target, np.zeros(SHAPE, np.uint8), model_version=None, parent_id=None,
        idempotency_key="empty-1",
    )  # fmt: skip
    client.force_login(people["annotator"])
    page = client.get("/worklist/?status=all").content.decode()
    assert 'data-flagged="1"' in page and "1 flagged, 1 empty" in page


def test_dashboard_counts_flagged_masks_per_model_and_time_saved_leaves_them_out(project):
    from tests.metrics.conftest import model_version

    v1, v2 = model_version(project, round_number=1), model_version(project, round_number=2)
    case = factories.case(project, shape_zyx=SHAPE)
    for i, (version, mask) in enumerate(
        [(v1, np.zeros(SHAPE, np.uint8)), (v1, good_mask()), (v2, good_mask())]
    ):
        target = factories.target(case, key_index=3, box=BOX)
        services.save_model_revision(
            target, mask, model_version=version, parent_id=None, idempotency_key=f"k{i}"
        )
    checks = {r["key"]: r for r in metrics_selectors.model_checks(project)}
    assert (checks[v1.pk]["masks"], checks[v1.pk]["flagged"]) == (2, 1)
    assert checks[v1.pk]["flagged_rate"] == 0.5 and checks[v1.pk]["codes"] == {"empty": 1}
    assert (checks[v2.pk]["masks"], checks[v2.pk]["flagged"]) == (1, 0)
    assert MaskRevision.objects.filter(flags=[]).count() == 2


def test_store_revision_of_a_person_has_no_flags(project, people):
    case = factories.case(project, assignee=people["annotator"], shape_zyx=SHAPE)
    target = factories.target(case, key_index=3, box=BOX)
    saved = services.save_human_revision(
        target,
        actor=people["annotator"],
        data=np.zeros(SHAPE, np.uint8).tobytes(),
        raw_shape=(SHAPE[2], SHAPE[1], SHAPE[0]),
        parent_id=None,
    )
    assert saved.revision.flags == []


@pytest.mark.parametrize("disagreement", [None, 0.0, 0.5])
def test_the_directions_disagreement_is_stored_in_the_uncertainty(
    project, people, model, monkeypatch, disagreement, django_capture_on_commit_callbacks
):
    fake_engine(monkeypatch, lambda key: good_mask(), disagreement=disagreement)
    case = factories.case(project, assignee=people["annotator"], shape_zyx=SHAPE)
    target = factories.target(case, key_index=3, box=BOX)
    with django_capture_on_commit_callbacks(execute=True):
        job = presegment.request(target, actor=people["annotator"])
    job.refresh_from_db()
    confident = 1 - 0.9 / (1 + np.exp(-4.0))  # iou 0.9, object score 4 on every slice
    expected = 1 - (1 - confident) * (1 - (disagreement or 0.0))
    assert job.result.uncertainty == pytest.approx(expected, abs=1e-3)
