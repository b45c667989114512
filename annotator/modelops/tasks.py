"""Celery tasks for the model loop: thin wrappers over annotator.modelops.rounds.

train_round runs on the `training` queue (acks_late: a worker lost mid-training leaves the task
to be redelivered, and training resumes from the round's last checkpoint).
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

from annotator.core.errors import DomainError
from annotator.projects.models import Project

from . import rounds, schedules

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
        rounds.run_round(round_id, task_id=self.request.id or "")
    except TRANSIENT:
        if self.request.retries >= self.max_retries:
            rounds.fail_round(round_id, "a service stayed unavailable during the round")
        raise
    except Exception as exc:
        log.exception("round %s failed", round_id)
        rounds.fail_round(round_id, f"{type(exc).__name__}: {exc}")
        raise


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
