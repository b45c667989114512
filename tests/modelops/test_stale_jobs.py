"""Jobs whose worker is gone (issue #17 item 9): a pre-segmentation job, a training round or an
export left "running" by a killed worker is failed with "worker lost; retry" once its heartbeat
is older than JOB_STALE_SECONDS; live, queued and finished ones are left alone."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from annotator.annotations.models import PresegmentJob
from annotator.audit.models import AuditEvent
from annotator.cases.models import Case, CaseStatus
from annotator.core.heartbeat import heartbeat
from annotator.metrics import tasks as metrics_tasks
from annotator.metrics.models import Export
from annotator.modelops import tasks as modelops_tasks
from annotator.modelops.models import Snapshot, TrainingRound
from tests import factories


def age(model, obj, seconds: float) -> None:
    """Set the heartbeat as a worker killed `seconds` ago left it."""
    stamp = timezone.now() - timedelta(seconds=seconds)
    model.objects.filter(pk=obj.pk).update(updated_at=stamp)


@pytest.fixture
def lost(settings):
    settings.JOB_STALE_SECONDS = 300
    return 301


def test_an_export_whose_worker_was_killed_is_failed_not_running_forever(project, lost):
    export = Export.objects.create(
        project=project, scope="project", format="nifti", status="running", done=0, total=4
    )
    live = Export.objects.create(project=project, scope="project", format="nifti", status="running")
    queued = Export.objects.create(project=project, scope="project", format="nifti")
    for obj in (export, queued):
        age(Export, obj, lost)
    assert metrics_tasks.fail_stale_exports.delay().get() == 1
    export.refresh_from_db()
    assert export.status == "failed" and export.message.startswith("worker lost; retry")
    assert export.finished_at is not None
    assert AuditEvent.objects.filter(action="export.failed", object_id=str(export.pk)).exists()
    live.refresh_from_db()
    queued.refresh_from_db()
    assert (live.status, queued.status) == ("running", "queued")


def test_a_presegmentation_job_whose_worker_was_killed_is_failed_and_its_case_ready(
    project, people, lost
):
    case = factories.case(project, assignee=people["annotator"], status=CaseStatus.PRESEGMENTING)
    stuck = PresegmentJob.objects.create(
        target=factories.target(case), case=case, status="running", automatic=True, total=9
    )
    other = factories.case(project)
    live = PresegmentJob.objects.create(
        target=factories.target(other), case=other, status="running"
    )
    age(PresegmentJob, stuck, lost)
    result = modelops_tasks.fail_stale_jobs.delay().get()
    assert result == {"presegment_jobs": 1, "rounds": 0}
    stuck.refresh_from_db()
    assert stuck.status == "failed" and stuck.message.startswith("worker lost; retry")
    assert Case.objects.get(pk=case.pk).status == CaseStatus.READY
    live.refresh_from_db()
    assert live.status == "running"


def test_a_training_round_whose_worker_was_killed_is_failed(project, tmp_path, lost):
    model = factories.tiny_model_version(tmp_path, project=project)
    snapshot = Snapshot.objects.create(project=project, sha256="0" * 64, train_count=1,
                                       heldout_count=1)  # fmt: skip
    round_ = TrainingRound.objects.create(
        project=project, number=1, status="training", trigger="manual", snapshot=snapshot,
        base_model=model, config={"steps": 10},
    )  # fmt: skip
    age(TrainingRound, round_, lost)
    assert modelops_tasks.fail_stale_jobs.delay().get() == {"presegment_jobs": 0, "rounds": 1}
    round_.refresh_from_db()
    assert round_.status == "failed" and round_.message.startswith("worker lost; retry")
    assert AuditEvent.objects.filter(action="round.failed", object_id=str(round_.pk)).exists()
    # The project may start its next round (one active round per project).
    TrainingRound.objects.create(
        project=project, number=2, status="queued", trigger="manual", snapshot=snapshot,
        base_model=model,
    )  # fmt: skip


def test_the_beat_schedule_runs_both_checks():
    from annotator.celery import app

    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert tasks == {
        "annotator.modelops.tasks.fail_stale_jobs",
        "annotator.metrics.tasks.fail_stale_exports",
    }
    app.loader.import_default_modules()
    assert tasks <= set(app.tasks)


@pytest.mark.django_db(transaction=True)
def test_a_running_job_keeps_its_heartbeat_and_is_not_failed(project, settings):
    """The worker side: while a task runs, its row is stamped (at once, then periodically)."""
    settings.JOB_STALE_SECONDS = 1
    export = Export.objects.create(
        project=project, scope="project", format="nifti", status="running"
    )
    age(Export, export, 3600)  # it waited an hour in the queue
    with heartbeat(Export, export.pk, every=0.2):
        first = Export.objects.get(pk=export.pk).updated_at
        assert timezone.now() - first < timedelta(seconds=1)
        time.sleep(1.5)
        assert Export.objects.get(pk=export.pk).updated_at > first
        from annotator.metrics.exports.stale import fail_stale_exports

        assert fail_stale_exports() == 0
    time.sleep(1.2)  # the worker is gone: no more beats
    assert fail_stale_exports() == 1
