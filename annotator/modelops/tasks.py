"""Celery tasks for the model loop: thin wrappers over presegment_run and rounds.

presegment_* run on the `gpu` queue; train_round on the `training` queue. acks_late +
reject_on_worker_lost: a worker that dies mid-task leaves the message to be redelivered; a
pre-segmentation job is idempotent (the redelivery finishes it once) and training resumes from
the round's last checkpoint. While a job or round runs, its row gets a heartbeat
(core.heartbeat); `fail_stale_jobs` (beat) fails the ones whose heartbeat stopped.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError

from annotator.annotations.models import PresegmentJob
from annotator.core.errors import DomainError
from annotator.core.heartbeat import heartbeat
from annotator.projects.models import Project

from . import presegment_run, round_run, schedules, stale
from .models import TrainingRound

log = logging.getLogger(__name__)
TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT,
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=5,
)
def train_round(self, round_id: int) -> None:
    try:
        with heartbeat(TrainingRound, round_id):
            round_run.run_round(round_id, task_id=self.request.id or "")
    except TRANSIENT:
        if self.request.retries >= self.max_retries:
            round_run.fail_round(round_id, "a service stayed unavailable during the round")
        raise
    except Exception as exc:
        log.exception("round %s failed", round_id)
        round_run.fail_round(round_id, f"{type(exc).__name__}: {exc}")
        raise


@shared_task
def fail_stale_jobs() -> dict[str, int]:
    """Celery beat, every JOB_STALE_CHECK_SECONDS: jobs and rounds whose worker is gone."""
    return stale.fail_stale_jobs()


@shared_task
def scheduled_round(project_id: int) -> str:
    """Fired by the project's beat schedule (and by new accepted masks)."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return "no such project"
    try:
        return schedules.maybe_start(project)
    except DomainError as exc:
        return f"not started: {exc.message}"


PRESEGMENT = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": TRANSIENT,
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 5,
    "soft_time_limit": settings.PRESEGMENT_SOFT_TIME_LIMIT,
    "time_limit": settings.PRESEGMENT_SOFT_TIME_LIMIT + 60,
}


def _run_job(task, job_id: int) -> None:
    try:
        with heartbeat(PresegmentJob, job_id):
            presegment_run.run_job(job_id, task_id=task.request.id or "")
    except SoftTimeLimitExceeded:
        presegment_run.fail_job(job_id, "pre-segmentation took longer than the time limit")
    except TRANSIENT:
        if task.request.retries >= task.max_retries:
            presegment_run.fail_job(job_id, "a service stayed unavailable; try again later")
        raise


@shared_task(**PRESEGMENT)
def presegment_target(self, job_id: int) -> None:
    _run_job(self, job_id)


@shared_task(**PRESEGMENT)
def presegment_case(self, case_id: int, job_ids: list[int]) -> None:
    for job_id in job_ids:
        _run_job(self, job_id)
    presegment_run.finish_case(case_id)
