"""Celery tasks (queue `default`): thin wrappers over the metrics and export services.

acks_late + reject_on_worker_lost: a task whose worker dies is redelivered; both services are
idempotent (an outcome is recomputed, an export rebuilt).
"""

from __future__ import annotations

import contextlib

from celery import shared_task
from django.db import InterfaceError, OperationalError

from annotator.annotations.models import Target
from annotator.core.heartbeat import heartbeat
from annotator.projects.models import Project

from .models import Export

TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)
COMMON = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": TRANSIENT,
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "max_retries": 5,
}


@shared_task(**COMMON)
def record_outcome(target_id: int) -> None:
    from . import services  # (services queue these tasks: imported when run, not at load)

    with contextlib.suppress(Target.DoesNotExist):  # deleted since the review: nothing to do
        services.record_outcome(target_id)


@shared_task(**COMMON)
def backfill_outcomes(project_id: int | None = None, missing_only: bool = True) -> int:
    from . import services

    project = Project.objects.get(pk=project_id) if project_id else None
    return services.backfill_outcomes(project, missing_only=missing_only)


@shared_task(**COMMON, soft_time_limit=6 * 3600, time_limit=6 * 3600 + 60)
def run_export(export_id: int) -> None:
    from .exports import service

    with heartbeat(Export, export_id):
        service.run_export(export_id)


@shared_task
def fail_stale_exports() -> int:
    """Celery beat, every JOB_STALE_CHECK_SECONDS: exports whose worker is gone."""
    from .exports import stale

    return stale.fail_stale_exports()
