"""Pre-segmentation: ask for it (viewer or import), run it (Celery worker), report progress.

A job snapshots its prompts and the target's head at request time. The worker stores the model's
mask as a revision whose parent is that head, with the idempotency key "presegment-<job>", so a
redelivered task never stores a second revision and a target edited meanwhile is never
overwritten (the job then fails with a message saying so).
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import time
from functools import lru_cache

import nibabel as nib
import numpy as np
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from annotator.cases import services as case_services
from annotator.cases.models import Case, CaseStatus, Image
from annotator.core.errors import (
    Conflict,
    InvalidInput,
    InvalidTransition,
    ServiceUnavailable,
    StaleParent,
)
from annotator.modelops.selectors import production_model
from annotator.modelops.services import model_path

from . import masks, progress
from .models import JobStatus, MaskRevision, PresegmentJob, Target
from .services import require_editor, save_model_revision, validate_prompt

log = logging.getLogger(__name__)
ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
PROGRESS_INTERVAL_S = 0.25


def idempotency_key(job: PresegmentJob) -> str:
    return f"presegment-{job.pk}"


# ---------------------------------------------------------------- asking for it


def _target_prompts(target: Target) -> list[dict]:
    """The target's own prompt: the box on its key slice plus its points, by slice."""
    by_index: dict[int, dict] = {}
    if target.box:
        by_index[target.key_index] = {"index": target.key_index, "box": target.box, "points": []}
    for p in target.points:
        entry = by_index.setdefault(p["z"], {"index": p["z"], "box": None, "points": []})
        entry["points"].append([p["x"], p["y"], 1 if p["positive"] else 0])
    return [by_index[k] for k in sorted(by_index)]


def _clean_extra(target: Target, extra: list[dict]) -> list[dict]:
    """Validate re-prompts from the viewer: a box or points on a slice, or a corrected slice
    taken from one of the target's revisions ({"index", "mask_revision"})."""
    case = target.case
    cleaned = []
    for item in extra:
        if not isinstance(item, dict) or "index" not in item:
            raise InvalidInput('each prompt needs an "index" (slice or frame)')
        index = int(item["index"])
        if item.get("mask_revision") is not None:
            rid = int(item["mask_revision"])
            if not target.revisions.filter(pk=rid).exists():
                raise InvalidInput(f"revision {rid} does not belong to target {target.pk}")
            validate_prompt(case, label=target.label, key_index=index, box=None, points=None)
            cleaned.append({"index": index, "box": None, "points": [], "mask_revision": rid})
            continue
        points = [
            {"x": p[0], "y": p[1], "z": index, "positive": bool(p[2])}
            if isinstance(p, list | tuple)
            else {**p, "z": index}
            for p in item.get("points") or []
        ]
        box, clean_points = validate_prompt(
            case, label=target.label, key_index=index, box=item.get("box"), points=points
        )
        if box is None and not clean_points:
            raise InvalidInput(f"the prompt on {index} needs a box, points or a mask_revision")
        cleaned.append(
            {
                "index": index,
                "box": box,
                "points": [[p["x"], p["y"], int(p["positive"])] for p in clean_points],
            }
        )
    return cleaned


def _merge(base: list[dict], extra: list[dict]) -> list[dict]:
    """Re-prompts replace the base prompt on the same slice and add the others."""
    merged = {p["index"]: p for p in base}
    merged.update({p["index"]: p for p in extra})
    return [merged[k] for k in sorted(merged)]


def _require_model(case: Case):
    version = production_model(case.project)
    if version is None:
        raise Conflict(
            "no production model is registered: run `python manage.py bootstrap_model` or "
            "`python manage.py fetch_medsam2`",
            code="no_model",
        )
    return version


def request(
    target: Target,
    *,
    actor,
    extra_prompts: list[dict] | None = None,
    options: dict | None = None,
    replace_prompt: bool = False,
) -> PresegmentJob:
    """Queue a pre-segmentation of `target` asked for in the viewer (a re-prompt refines)."""
    case = target.case
    require_editor(actor, case)
    if case.status not in case_services.EDITABLE:
        raise Conflict(f"case {case.study_id} is {case.status}; it can no longer be edited")
    extra = _clean_extra(target, extra_prompts or [])
    prompts = extra if replace_prompt else _merge(_target_prompts(target), extra)
    if not prompts:
        raise InvalidInput("the target has no prompt yet: draw a box or add points first")
    clean_options = _clean_options(case, options or {})
    version = _require_model(case)
    with transaction.atomic():
        if target.jobs.filter(status__in=ACTIVE).exists():
            raise Conflict("this target is already being pre-segmented", code="job_running")
        case_services.ensure_in_progress(case, actor=actor)
        job = PresegmentJob.objects.create(
            target=target,
            case=case,
            prompts=prompts,
            options=clean_options,
            parent_revision_id=target.head_id,
            model_version=version,
            requested_by=actor,
            message="queued",
        )
        transaction.on_commit(lambda: _enqueue_target(job))
    progress.publish(job)
    return job


def _clean_options(case: Case, options: dict) -> dict:
    clean: dict = {}
    window = options.get("window")
    if window is not None:
        if isinstance(window, str):
            from inference.preprocess import CT_WINDOWS

            if window not in CT_WINDOWS:
                raise InvalidInput(f"unknown window {window!r}; presets: {sorted(CT_WINDOWS)}")
            clean["window"] = window
        elif isinstance(window, list | tuple) and len(window) == 2:
            clean["window"] = [float(window[0]), float(window[1])]
        else:
            raise InvalidInput("window must be a preset name or [center, width]")
    if options.get("z_range") is not None:
        z0, z1 = (int(v) for v in options["z_range"])
        if not 0 <= z0 < z1 <= case.image.shape[2]:
            raise InvalidInput(f"z_range must lie within 0..{case.image.shape[2]}")
        clean["z_range"] = [z0, z1]
    if "early_stop_patience" in options:
        value = options["early_stop_patience"]
        if value is not None and (not isinstance(value, int) or value < 1):
            raise InvalidInput("early_stop_patience must be null or a positive integer")
        clean["early_stop_patience"] = value
    return clean


def queue_case(case: Case, *, actor=None) -> bool:
    """Queue automatic pre-segmentation of every prompted target of a new or ready case.
    Returns False (and queues nothing) when there is nothing to do or no model."""
    targets = [t for t in case.targets.all() if t.has_prompt]
    version = production_model(case.project)
    if not targets or version is None:
        if targets:
            log.warning("case %s: no production model; not pre-segmented", case.pk)
        return False
    if case.status not in (CaseStatus.NEW, CaseStatus.READY) or case.first_opened_at is not None:
        return False
    if case.presegment_jobs.filter(status__in=ACTIVE).exists():
        return False
    with transaction.atomic():
        jobs = [
            PresegmentJob.objects.create(
                target=t,
                case=case,
                prompts=_target_prompts(t),
                parent_revision_id=t.head_id,
                model_version=version,
                automatic=True,
                message="queued",
            )
            for t in targets
        ]
        case_services.transition(
            case, CaseStatus.PRESEGMENTING, actor=actor, actor_label="auto-presegment"
        )
        job_ids = [j.pk for j in jobs]
        transaction.on_commit(lambda: _enqueue_case(case.pk, job_ids))
    for job in jobs:
        progress.publish(job)
    return True


def _enqueue_target(job: PresegmentJob) -> None:
    from .tasks import presegment_target

    try:
        result = presegment_target.delay(job.pk)
    except Exception as exc:
        _unqueued(job, exc)
    PresegmentJob.objects.filter(pk=job.pk, task_id="").update(task_id=result.id or "")


def _enqueue_case(case_id: int, job_ids: list[int]) -> None:
    from .tasks import presegment_case

    try:
        presegment_case.delay(case_id, job_ids)
    except Exception as exc:
        for job in PresegmentJob.objects.filter(pk__in=job_ids):
            _finish(job, JobStatus.FAILED, "the task queue was unavailable; not pre-segmented")
        finish_case(case_id)
        raise ServiceUnavailable(f"the task queue is unavailable ({type(exc).__name__})") from exc


def _unqueued(job: PresegmentJob, exc: Exception):
    """The broker refused the task: the job fails visibly instead of waiting forever."""
    _finish(job, JobStatus.FAILED, "the task queue was unavailable; ask again in a moment")
    raise ServiceUnavailable(
        f"the task queue is unavailable ({type(exc).__name__}); nothing was started, retry"
    ) from exc


# ---------------------------------------------------------------- running it (worker side)


@lru_cache(maxsize=2)
def _volume(name: str, checksum: str) -> np.ndarray:
    """The image voxels as (z, y, x), cached for the next target of the same case."""
    with default_storage.open(name, "rb") as fh:
        data = fh.read()
    img = nib.Nifti1Image.from_bytes(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
    array = np.asanyarray(img.dataobj)
    if array.ndim == 4:
        array = array[..., 0]
    return np.ascontiguousarray(array.transpose(2, 1, 0))


def load_volume(image: Image) -> np.ndarray:
    return _volume(image.file.name, image.checksum)


def _engine_prompts(job: PresegmentJob):
    from inference.engine import Prompt

    prompts = []
    for p in job.prompts:
        mask = None
        if p.get("mask_revision"):
            revision = MaskRevision.objects.get(pk=p["mask_revision"])
            with default_storage.open(revision.file.name, "rb") as fh:
                mask = masks.decode_stored(fh.read())[p["index"]].astype(bool)
        prompts.append(
            Prompt(
                index=p["index"],
                box=tuple(p["box"]) if p.get("box") else None,
                points=[(x, y, int(label)) for x, y, label in p.get("points") or []],
                mask=mask,
            )
        )
    return prompts


def _window(job: PresegmentJob, image: Image):
    if "window" in job.options:
        w = job.options["window"]
        return w if isinstance(w, str) else (w[0], w[1])
    if job.case.project.default_window:
        return job.case.project.default_window
    if image.modality == "CT" and image.window_center is not None and image.window_width:
        return (image.window_center, image.window_width)
    return None


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


def _finish(job: PresegmentJob, status: str, message: str, result=None) -> PresegmentJob:
    job.status, job.message, job.finished_at = status, message[:500], timezone.now()
    if result is not None:
        job.result = result
    job.save(update_fields=["status", "message", "finished_at", "result", "updated_at"])
    progress.publish(job)
    return job


def run_job(job_id: int, *, task_id: str = "") -> PresegmentJob:
    """Run one job to completion. Safe to call again for the same job (redelivery)."""
    from inference.cache import device_lock, get_model
    from inference.engine import SegmentOptions, segment_clip, segment_volume

    job = PresegmentJob.objects.select_related(
        "case__image", "case__project", "target", "model_version"
    ).get(pk=job_id)
    if job.status in (JobStatus.DONE, JobStatus.FAILED):
        return job
    stored = MaskRevision.objects.filter(idempotency_key=idempotency_key(job)).first()
    if stored is not None:  # the revision was saved before a crash; only the status was lost
        return _finish(job, JobStatus.DONE, "done", stored)
    if job.model_version is None:
        return _finish(job, JobStatus.FAILED, "the model version of this job was deleted")
    job.status, job.started_at = JobStatus.RUNNING, timezone.now()
    job.attempts += 1
    job.task_id = task_id or job.task_id
    job.message = "loading the model"
    job.save(update_fields=["status", "started_at", "attempts", "task_id", "message", "updated_at"])
    progress.publish(job)

    image = job.case.image
    volume = load_volume(image)
    loaded = get_model(model_path(job.model_version), config=job.model_version.config)
    options = SegmentOptions(
        window=_window(job, image),
        early_stop_patience=job.options.get("early_stop_patience", 3),
        z_range=tuple(job.options["z_range"]) if job.options.get("z_range") else None,
    )
    try:
        prompts = _engine_prompts(job)
        report = _Reporter(job)
        with device_lock(loaded.device):
            if image.kind == "video":
                options.early_stop_patience = job.options.get("early_stop_patience")
                options.largest_component = False
                mask = segment_clip(loaded, volume, prompts, options, progress=report)
            else:
                mask = segment_volume(
                    loaded, volume, image.modality, prompts, options, progress=report
                )
    except ValueError as exc:  # a prompt the engine cannot use: permanent
        return _finish(job, JobStatus.FAILED, f"the prompt cannot be used: {exc}")
    try:
        saved = save_model_revision(
            job.target,
            mask,
            model_version=job.model_version,
            parent_id=job.parent_revision_id,
            idempotency_key=idempotency_key(job),
            note=f"pre-segmentation job {job.pk}",
        )
    except StaleParent:
        return _finish(
            job,
            JobStatus.FAILED,
            "the target was edited while the model ran; its result was not applied",
        )
    voxels = saved.revision.voxel_count
    return _finish(job, JobStatus.DONE, f"done: {voxels} voxels", saved.revision)


def fail_job(job_id: int, message: str) -> None:
    job = PresegmentJob.objects.filter(pk=job_id).first()
    if job is not None and job.status in ACTIVE:
        _finish(job, JobStatus.FAILED, message)


def finish_case(case_id: int) -> None:
    """Once no automatic job of the case is pending, a pre-segmenting case becomes ready."""
    case = Case.objects.get(pk=case_id)
    if case.status != CaseStatus.PRESEGMENTING:
        return
    if case.presegment_jobs.filter(status__in=ACTIVE, automatic=True).exists():
        return
    with contextlib.suppress(InvalidTransition):  # someone opened it meanwhile
        case_services.transition(case, CaseStatus.READY, actor_label="auto-presegment")
