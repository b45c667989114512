"""Celery tasks (queue `default`): thin wrappers over the import and send services.

acks_late + reject_on_worker_lost: a task whose worker dies is redelivered; an import
continues from the instances already on disk, a send makes its next attempt.
"""

from __future__ import annotations

from celery import shared_task

from annotator.core.heartbeat import heartbeat

from .models import JobStatus, SeriesImport

COMMON = {"acks_late": True, "reject_on_worker_lost": True}


@shared_task(**COMMON, soft_time_limit=6 * 3600, time_limit=6 * 3600 + 60)
def run_import(import_id: int) -> str:
    from .importing import run_import as run

    with heartbeat(SeriesImport, import_id):
        return run(import_id).status


@shared_task(**COMMON)
def run_send(send_id: int) -> str:
    from .sending import attempt_send, backoff

    send = attempt_send(send_id)
    if send.status == JobStatus.RETRYING:
        run_send.apply_async((send_id,), countdown=backoff(send.attempts))
    return send.status
