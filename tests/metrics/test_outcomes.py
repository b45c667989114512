"""Per-target outcomes computed from constructed histories with known answers."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.core.management import call_command

from annotator.annotations import workflow
from annotator.metrics import services as metrics
from annotator.metrics.models import TargetOutcome
from tests import factories

from .conftest import (
    START,
    box_mask,
    human_save,
    model_save,
    model_version,
    reprompt,
    review,
    start,
    submit,
    two_target_history,
)


@pytest.fixture
def two_target_case(project, people, clock, django_capture_on_commit_callbacks):
    """Case with two AI-assisted targets: t1 accepted as the model made it, t2 edited in two
    sessions, re-prompted once, rejected once and fixed. Times in seconds from START. The
    review flow's on-commit hook (Celery eager here) records the outcomes."""
    with django_capture_on_commit_callbacks(execute=True):
        return two_target_history(project, people, clock)


def test_accepted_without_change(two_target_case, people):
    case, t1, _, version = two_target_case
    o = TargetOutcome.objects.get(target=t1)
    assert o.ai_assisted and o.accepted_unchanged is True
    assert o.dice == 1.0 and o.changed_fraction == 0.0 and o.changed_voxels == 0
    assert o.active_seconds == 0.0 and o.human_revisions == 0 and o.model_revisions == 1
    assert o.reprompts == 0 and o.rejections == 0 and o.case_rejections == 1
    assert o.model_version == version and o.model_round == 1
    assert o.annotator == people["annotator"] and o.reviewer == people["reviewer"]
    assert o.accepted_at == START + dt.timedelta(seconds=1100)
    assert o.accepted_on == dt.date(2026, 3, 2)


def test_edited_target_times_quality_and_rework(two_target_case):
    case, _, t2, _ = two_target_case
    o = TargetOutcome.objects.get(target=t2)
    # Active time: 120 + 30.5 before the first submission, 60 in rework.
    assert o.active_seconds == pytest.approx(210.5)
    assert o.rework_active_seconds == pytest.approx(60.0)
    # Wall time: first open (100 s) to first submission (1000 s), shared by the 2 targets.
    assert o.first_opened_at == START + dt.timedelta(seconds=100)
    assert o.first_submitted_at == START + dt.timedelta(seconds=1000)
    assert o.case_wall_seconds == 900.0 and o.wall_seconds == 450.0
    assert o.human_revisions == 3 and o.reprompts == 1 and o.rejections == 1
    # Model 96 voxels inside the accepted 121: |M∩A| = 96, |M xor A| = 25, |M ∪ A| = 121.
    assert (o.model_voxels, o.accepted_voxels, o.changed_voxels) == (96, 121, 25)
    assert o.dice == pytest.approx(2 * 96 / (96 + 121))
    assert o.changed_fraction == pytest.approx(25 / 121)
    assert o.accepted_unchanged is False
    assert o.accepted_revision_id == type(t2).objects.get(pk=t2.pk).head_id
    assert o.accepted_at == START + dt.timedelta(seconds=1700)


def test_identical_voxels_saved_by_a_human_count_as_unchanged(project, people, clock):
    version = model_version(project)
    case = factories.case(project, assignee=people["annotator"])
    t = factories.target(case)
    mask = box_mask(case)
    model_save(t, mask, version)
    human_save(t, people["annotator"], mask.copy(), active_seconds=12)  # edit, then undo
    submit(case, people["annotator"])
    review(t, people["reviewer"], "accept")
    o = metrics.record_outcome(t)
    assert o.accepted_unchanged is True and o.dice == 1.0 and o.active_seconds == 12


def test_accepting_a_reprompt_result_is_a_change_from_the_first_model_mask(project, people, clock):
    v1 = model_version(project, round_number=1)
    case = factories.case(project, assignee=people["annotator"])
    t = factories.target(case)
    model_save(t, box_mask(case), v1)
    reprompt(t, people["annotator"])
    model_save(t, box_mask(case, y=(3, 6)), v1)  # the re-prompt's result: 48 voxels
    start(case, people["annotator"])
    submit(case, people["annotator"])
    review(t, people["reviewer"], "accept")
    o = metrics.record_outcome(t)
    assert o.accepted_unchanged is False and o.model_revisions == 2 and o.reprompts == 1
    assert o.dice == pytest.approx(2 * 48 / (96 + 48)) and o.changed_fraction == 0.5
    assert o.active_seconds == 0.0  # no human save


def test_manual_target_and_unknown_active_time(project, people, clock):
    case = factories.case(project, assignee=people["annotator2"])
    t1, t2 = factories.target(case), factories.target(case)
    human_save(t1, people["annotator2"], box_mask(case), active_seconds=300)
    human_save(t2, people["annotator2"], box_mask(case), active_seconds=None)  # not reported
    submit(case, people["annotator2"])
    for t in (t1, t2):
        review(t, people["reviewer"], "accept")
    o1, o2 = metrics.record_outcome(t1), metrics.record_outcome(t2)
    assert not o1.ai_assisted and o1.dice is None and o1.accepted_unchanged is None
    assert o1.model_version is None and o1.active_seconds == 300
    assert o2.active_seconds is None  # unknown, not zero
    assert o1.annotator == people["annotator2"]


def test_not_accepted_targets_have_no_outcome(project, people, clock):
    case = factories.case(project, assignee=people["annotator"])
    t = factories.target(case)
    human_save(t, people["annotator"], box_mask(case), active_seconds=5)
    assert metrics.record_outcome(t) is None  # never reviewed
    submit(case, people["annotator"])
    review(t, people["reviewer"], "accept")
    assert metrics.record_outcome(t) is not None
    # The manager reopens; the annotator changes it and it is rejected: the outcome goes.
    case.refresh_from_db()
    workflow.reopen(case, actor=people["manager"])
    human_save(t, people["annotator"], box_mask(case, x=(4, 6)), active_seconds=1)
    submit(case, people["annotator"])
    review(t, people["reviewer"], "reject", comment="no")
    assert metrics.record_outcome(t) is None
    assert not TargetOutcome.objects.filter(target=t).exists()


def test_review_hook_records_outcomes_on_commit(two_target_case):
    # two_target_case ran the review flow with on_commit callbacks executed (Celery eager).
    case, t1, t2, _ = two_target_case
    assert TargetOutcome.objects.filter(case=case).count() == 2


def test_backfill_command(project, people, clock):
    case = factories.case(project, assignee=people["annotator"])
    t = factories.target(case)
    human_save(t, people["annotator"], box_mask(case), active_seconds=5)
    submit(case, people["annotator"])
    review(t, people["reviewer"], "accept")  # hook not run
    assert not TargetOutcome.objects.exists()
    call_command("record_outcomes", project="liver")
    assert TargetOutcome.objects.get(target=t).active_seconds == 5
    with pytest.raises(Exception, match="no project"):
        call_command("record_outcomes", project="nope")


def test_overlap_edge_cases():
    empty = np.zeros((2, 3, 3), np.uint8)
    both_empty = metrics.overlap(empty, empty)
    assert both_empty.dice == 1.0 and both_empty.changed_fraction == 0.0 and both_empty.unchanged
    one = empty.copy()
    one[0, 0, 0] = 1
    disjoint = metrics.overlap(one, empty)
    assert disjoint.dice == 0.0 and disjoint.changed_fraction == 1.0 and not disjoint.unchanged
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.overlap(one, np.zeros((1, 3, 3)))
