"""Pre-segmentation jobs and fine-tuning rounds whose worker is gone (core.heartbeat).

A running job or round whose heartbeat is older than JOB_STALE_SECONDS is failed with "worker
lost; retry": a job's case leaves "pre-segmenting" once no automatic job of it is pending, and
a failed round frees its project for the next one. Queued ones are left alone: they wait for a
worker, they did not lose one. Each row is failed with a compare-and-set on its status and
heartbeat, so a worker that was only slow and beats again in between keeps its job. A task
that the broker redelivers later finds the job or round failed and stops.
"""

from __future__ import annotations

import logging

from django.utils import timezone

from annotator.annotations import progress as job_progress
from annotator.annotations.models import JobStatus, PresegmentJob
from annotator.audit.services import record
from annotator.core.heartbeat import fail_stale, lost_message

from . import presegment_run
from . import progress as round_progress
from .models import RoundStatus, TrainingRound

log = logging.getLogger(__name__)

RUNNING_ROUND = (RoundStatus.TRAINING, RoundStatus.EVALUATING)


def fail_stale_jobs(now=None) -> dict[str, int]:
    """Fail the running pre-segmentation jobs and rounds that lost their worker; how many."""
    now = now or timezone.now()
    jobs = fail_stale(
        PresegmentJob, (JobStatus.RUNNING,), JobStatus.FAILED,
        lost_message("ask for the pre-segmentation again"), now,
    )  # fmt: skip
    for job in jobs:
        log.warning("pre-segmentation job %s: worker lost", job.pk)
        job_progress.publish(job)
        if job.automatic:
            presegment_run.finish_case(job.case_id)
    message = lost_message("start the round again")
    rounds = fail_stale(TrainingRound, RUNNING_ROUND, RoundStatus.FAILED, message, now)
    for round_ in rounds:
        log.warning("round %s of project %s: worker lost", round_.number, round_.project_id)
        record("round.failed", obj=round_, project=round_.project_id, message=message[:200])
        round_progress.publish_round(round_)
    return {"presegment_jobs": len(jobs), "rounds": len(rounds)}
