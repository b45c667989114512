"""Celery tasks (queue `gpu`): thin wrappers over annotations.presegment.

acks_late + reject_on_worker_lost: a worker that dies mid-task leaves the message to be
redelivered; run_job is idempotent, so the redelivery finishes the job once.
"""

from __future__ import annotations

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError

from . import presegment

TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)
COMMON = {
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


def _run(task, job_id: int) -> None:
    try:
        presegment.run_job(job_id, task_id=task.request.id or "")
    except SoftTimeLimitExceeded:
        presegment.fail_job(job_id, "pre-segmentation took longer than the time limit")
    except TRANSIENT:
        if task.request.retries >= task.max_retries:
            presegment.fail_job(job_id, "a service stayed unavailable; try again later")
        raise


@shared_task(**COMMON)
def presegment_target(self, job_id: int) -> None:
    _run(self, job_id)


@shared_task(**COMMON)
def presegment_case(self, case_id: int, job_ids: list[int]) -> None:
    for job_id in job_ids:
        _run(self, job_id)
    presegment.finish_case(case_id)
