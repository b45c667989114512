"""Heartbeats of background jobs, and how long a silent one is taken for lost.

A worker running a job (pre-segmentation, training round, export) stamps the job's `updated_at`
every JOB_HEARTBEAT_SECONDS from a side thread, whatever the job itself is doing (loading a
model, one long training step). Progress writes stamp it too. A job that is still "running"
while its stamp is older than JOB_STALE_SECONDS has lost its worker (killed, out of memory, its
machine gone): a periodic task of the app that owns the job (modelops.stale, metrics'
exports.stale; Celery beat, every JOB_STALE_CHECK_SECONDS) fails it with WORKER_LOST, so users
see "worker lost; retry" instead of "running 0/4" until the broker's visibility timeout.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, models
from django.utils import timezone

log = logging.getLogger(__name__)

WORKER_LOST = "worker lost; retry"


def lost_message(what: str) -> str:
    """The message a job gets when its worker is gone."""
    return (
        f"{WORKER_LOST}: no heartbeat from its worker for over {settings.JOB_STALE_SECONDS} s "
        f"(the worker stopped or its machine went away); {what}"
    )


def stale_before(now: datetime | None = None) -> datetime:
    """A running job whose last heartbeat is older than this has lost its worker."""
    return (now or timezone.now()) - timedelta(seconds=settings.JOB_STALE_SECONDS)


def fail_stale(
    model: type[models.Model], running: tuple[str, ...], failed: str, message: str, now: datetime
) -> list[models.Model]:
    """Fail the rows of `model` still in a `running` status whose heartbeat is older than
    JOB_STALE_SECONDS: status `failed`, `message`, finished now. Each row is a compare-and-set
    on its status and heartbeat, so a worker that was only slow and beats again in between keeps
    its job. The rows failed here, refreshed, for the owner's own follow-up."""
    cutoff = stale_before(now)
    lost = []
    for row in model.objects.filter(status__in=running, updated_at__lt=cutoff):
        if model.objects.filter(pk=row.pk, status=row.status, updated_at__lt=cutoff).update(
            status=failed, message=message[:500], finished_at=now, updated_at=now
        ):
            row.refresh_from_db()
            lost.append(row)
    return lost


def beat(model: type[models.Model], pk: int) -> None:
    model.objects.filter(pk=pk).update(updated_at=timezone.now())


@contextlib.contextmanager
def heartbeat(model: type[models.Model], pk: int, every: float | None = None) -> Iterator[None]:
    """Stamp the row `pk` of `model` now, then every `every` seconds (JOB_HEARTBEAT_SECONDS)
    while the block runs, from a daemon thread with its own database connection."""
    if every is None:  # a task run inline (eager: tests, no broker) has no worker to lose
        every = 0 if settings.CELERY_TASK_ALWAYS_EAGER else settings.JOB_HEARTBEAT_SECONDS
    beat(model, pk)  # at once: a job that waited in the queue starts with a fresh stamp
    if every <= 0:
        yield
        return
    stop = threading.Event()

    def run() -> None:
        try:
            while not stop.wait(every):
                try:
                    beat(model, pk)
                except Exception:  # a missed beat is not the job's failure
                    log.warning("heartbeat of %s %s failed", model.__name__, pk, exc_info=True)
        finally:
            connection.close()

    thread = threading.Thread(target=run, name=f"heartbeat-{model.__name__}-{pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)
