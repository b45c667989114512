"""Celery task for the registry: training the starter model on the `training` queue (a thin
wrapper over registry.starter; starter.enqueue and the retry name the queue). acks_late: a
worker that dies mid-run leaves the message to be redelivered, and the run resumes from its last
checkpoint; a rerun of the command queues it again in any case (registry.starter)."""

from __future__ import annotations

from celery import shared_task

from . import starter

RETRY_S = 30  # a run another live process is training: look again this much later


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def train_starter(self, run_id: int) -> str:
    outcome = starter.run(run_id)
    if outcome == starter.BUSY:
        raise self.retry(countdown=RETRY_S, max_retries=None, queue="training")
    return "nothing to do" if outcome is None else outcome.status
