"""Pre-segmentation, worker side: run a queued job with the production model and store its mask
as a model revision (see presegment.py for how jobs are asked for)."""

from __future__ import annotations

import contextlib
import time

from django.utils import timezone

from annotator.annotations import progress
from annotator.annotations.models import JobStatus, MaskRevision, PresegmentJob, RevisionSource
from annotator.annotations.selectors import revision_mask, target_flags, target_window
from annotator.annotations.services import save_model_revision
from annotator.cases import services as case_services
from annotator.cases.models import Case, CaseStatus
from annotator.cases.selectors import load_volume
from annotator.core.errors import InvalidTransition, StaleParent
from annotator.registry.services import model_path

ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
PROGRESS_INTERVAL_S = 0.25


def idempotency_key(job: PresegmentJob) -> str:
    return f"presegment-{job.pk}"


def _engine_prompts(job: PresegmentJob):
    from inference.engine import Prompt

    prompts = []
    for p in job.prompts:
        mask = None
        if p.get("mask_revision"):
            revision = MaskRevision.objects.get(pk=p["mask_revision"])
            mask = revision_mask(revision)[p["index"]].astype(bool)
        prompts.append(
            Prompt(
                index=p["index"],
                box=tuple(p["box"]) if p.get("box") else None,
                points=[(x, y, int(label)) for x, y, label in p.get("points") or []],
                mask=mask,
            )
        )
    return prompts


class _Reporter:
    """Throttled progress writes: the database row (for reconnecting browsers) and the
    channel layer (for connected ones)."""

    def __init__(self, job: PresegmentJob):
        self.job = job
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last < PROGRESS_INTERVAL_S:
            return
        self.last = now
        self.job.done, self.job.total = done, total
        self.job.message = f"{done}/{total}"
        PresegmentJob.objects.filter(pk=self.job.pk).update(
            done=done, total=total, message=self.job.message, updated_at=timezone.now()
        )
        progress.publish(self.job)


def finish(job: PresegmentJob, status: str, message: str, result=None) -> PresegmentJob:
    job.status, job.message, job.finished_at = status, message[:500], timezone.now()
    if result is not None:
        job.result = result
    job.save(update_fields=["status", "message", "finished_at", "result", "updated_at"])
    progress.publish(job)
    return job


def run_job(job_id: int, *, task_id: str = "") -> PresegmentJob:
    """Run one job to completion. Safe to call again for the same job (redelivery)."""
    from inference.cache import device_lock, get_model
    from inference.segtask import task_for

    job = PresegmentJob.objects.select_related(
        "case__image", "case__project", "target", "model_version"
    ).get(pk=job_id)
    if job.status in (JobStatus.DONE, JobStatus.FAILED):
        return job
    stored = MaskRevision.objects.filter(
        source=RevisionSource.MODEL, idempotency_key=idempotency_key(job)
    ).first()
    if stored is not None:  # the revision was saved before a crash; only the status was lost
        return finish(job, JobStatus.DONE, "done", stored)
    if job.model_version is None:
        return finish(job, JobStatus.FAILED, "the model version of this job was deleted")
    if job.target.deleted_at is not None:
        return finish(job, JobStatus.FAILED, "the target was deleted")
    job.status, job.started_at = JobStatus.RUNNING, timezone.now()
    job.attempts += 1
    job.task_id = task_id or job.task_id
    job.message = "loading the model"
    job.save(update_fields=["status", "started_at", "attempts", "task_id", "message", "updated_at"])
    progress.publish(job)

    image = job.case.image
    volume = load_volume(image)
    loaded = get_model(model_path(job.model_version), config=job.model_version.config)
    task = task_for(image.modality, image.kind == "video")
    overrides = {k: job.options[k] for k in ("early_stop_patience",) if k in job.options}
    if job.options.get("z_range"):
        overrides["z_range"] = tuple(job.options["z_range"])
    try:
        prompts = _engine_prompts(job)
        with device_lock(loaded.device):
            mask, track = task.segment_detailed(
                loaded,
                volume,
                prompts,
                window=target_window(job.target, job.options),
                progress=_Reporter(job),
                **overrides,
            )
    except ValueError as exc:  # a prompt the engine cannot use: permanent
        return finish(job, JobStatus.FAILED, f"the prompt cannot be used: {exc}")
    try:
        saved = save_model_revision(
            job.target,
            mask,
            model_version=job.model_version,
            parent_id=job.parent_revision_id,
            idempotency_key=idempotency_key(job),
            note=f"pre-segmentation job {job.pk}",
            **_checked_prompt(job),
            scores=track.absolute_scores(),
            disagreement=track.disagreement,
        )
    except StaleParent:
        return finish(
            job,
            JobStatus.FAILED,
            "the target was edited while the model ran; its result was not applied",
        )
    voxels = saved.revision.voxel_count
    flagged = ", ".join(f["code"] for f in saved.revision.flags)
    message = f"done: {voxels} voxels" + (f"; flagged: {flagged}" if flagged else "")
    return finish(job, JobStatus.DONE, message, saved.revision)


def _checked_prompt(job: PresegmentJob) -> dict:
    """The prompt the checks compare the mask with: the box on the target's key slice if the job
    has one there, else its first box, else its first prompt without a box."""
    boxed = [p for p in job.prompts if p.get("box")]
    chosen = next((p for p in boxed if p["index"] == job.target.key_index), None)
    chosen = chosen or (boxed[0] if boxed else (job.prompts[0] if job.prompts else None))
    if chosen is None:
        return {}
    return {"prompt_index": chosen["index"], "prompt_box": chosen.get("box")}


def fail_job(job_id: int, message: str) -> None:
    job = PresegmentJob.objects.filter(pk=job_id).first()
    if job is not None and job.status in ACTIVE:
        finish(job, JobStatus.FAILED, message)


def finish_case(case_id: int) -> None:
    """Once no automatic job of the case is pending, a pre-segmenting case becomes ready.

    Never silently over a flagged mask: the status change records how many of the case's model
    masks were flagged and how many are empty (audit ``case.status``: ``flagged_targets``,
    ``empty_masks``), and the worklist and the viewer show them (docs/viewer.md)."""
    case = Case.objects.get(pk=case_id)
    if case.status != CaseStatus.PRESEGMENTING:
        return
    if case.presegment_jobs.filter(status__in=ACTIVE, automatic=True).exists():
        return
    flagged = target_flags(case)
    details = {}
    if flagged:
        details["flagged_targets"] = len(flagged)
        details["empty_masks"] = sum(
            any(f["code"] == "empty" for f in flags) for flags in flagged.values()
        )
    with contextlib.suppress(InvalidTransition):  # someone opened it meanwhile
        case_services.transition(case, CaseStatus.READY, actor_label="auto-presegment", **details)
