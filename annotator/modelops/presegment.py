"""Pre-segmentation, asking side: a job asked for in the viewer, for a newly imported case, or
again for unopened cases when production changes (presegment_run.py runs it on a worker).

A job snapshots its prompts and the target's head at request time. The worker stores the model's
mask as a revision whose parent is that head, with the idempotency key "presegment-<job>", so a
redelivered task never stores a second revision and a target edited meanwhile is never
overwritten (the job then fails with a message saying so).
"""

from __future__ import annotations

import logging

from django.db import transaction

from annotator.annotations import progress
from annotator.annotations.models import JobStatus, PresegmentJob, Target
from annotator.annotations.services import validate_prompt
from annotator.audit.services import record
from annotator.cases import services as case_services
from annotator.cases.models import Case, CaseStatus
from annotator.cases.selectors import clean_window, require_case
from annotator.core.errors import Conflict, InvalidInput, ServiceUnavailable
from annotator.registry.models import ModelStatus, ModelVersion
from annotator.registry.quality import kind_of
from annotator.registry.selectors import production_model

from .presegment_run import ACTIVE, finish, finish_case
from .tasks import presegment_case, presegment_target

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- asking for it


def target_prompts(target: Target) -> list[dict]:
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


def _case_kind(case: Case) -> str:
    image = getattr(case, "image", None)  # None: not stored yet (no kind to choose by)
    return kind_of(image.kind, image.modality) if image is not None else ""


def serving_model(case: Case) -> ModelVersion | None:
    """The production version that serves the case's kind of image in its project."""
    return production_model(case.project, _case_kind(case))


def _require_model(case: Case):
    version = serving_model(case)
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
    require_case(actor, "case.edit", case)
    if case.status not in case_services.EDITABLE:
        raise Conflict(f"case {case.study_id} is {case.status}; it can no longer be edited")
    extra = _clean_extra(target, extra_prompts or [])
    prompts = extra if replace_prompt else _merge(target_prompts(target), extra)
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
    if options.get("window") is not None:
        clean["window"] = clean_window(options["window"])
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


def queue_case(case: Case, *, actor=None, version: ModelVersion | None = None) -> bool:
    """Queue automatic pre-segmentation of every prompted target of a new or ready case with
    ``version`` (default: the case's production model). Returns False (and queues nothing)
    when there is nothing to do or no model."""
    targets = [t for t in case.targets.all() if t.has_prompt]
    version = version or serving_model(case)
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
                prompts=target_prompts(t),
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
    try:
        result = presegment_target.delay(job.pk)
    except Exception as exc:
        _unqueued(job, exc)
    PresegmentJob.objects.filter(pk=job.pk, task_id="").update(task_id=result.id or "")


def _enqueue_case(case_id: int, job_ids: list[int]) -> None:
    try:
        presegment_case.delay(case_id, job_ids)
    except Exception as exc:
        for job in PresegmentJob.objects.filter(pk__in=job_ids):
            finish(job, JobStatus.FAILED, "the task queue was unavailable; not pre-segmented")
        finish_case(case_id)
        raise ServiceUnavailable(f"the task queue is unavailable ({type(exc).__name__})") from exc


def _unqueued(job: PresegmentJob, exc: Exception):
    """The broker refused the task: the job fails visibly instead of waiting forever."""
    finish(job, JobStatus.FAILED, "the task queue was unavailable; ask again in a moment")
    raise ServiceUnavailable(
        f"the task queue is unavailable ({type(exc).__name__}); nothing was started, retry"
    ) from exc


def represegment_unopened(version: ModelVersion, *, actor=None) -> int:
    """After production changes: pre-segment again every case no annotator has opened yet (new
    or ready, never opened) that the new production model serves (its project and kind of
    image). Opened cases are never touched."""
    cases = Case.objects.filter(
        status__in=[CaseStatus.NEW, CaseStatus.READY], first_opened_at__isnull=True
    ).select_related("project", "image")
    if version.project_id is not None:
        cases = cases.filter(project_id=version.project_id)
    else:  # the global default serves projects without a production model of their own
        own = ModelVersion.objects.filter(
            status=ModelStatus.PRODUCTION, project__isnull=False, kind=""
        ).values("project_id")
        cases = cases.exclude(project_id__in=own)
    # One lookup per (project, kind of image), not per case: a project can hold thousands.
    serving: dict[tuple[int, str], ModelVersion | None] = {}
    count = 0
    for case in cases:
        key = (case.project_id, _case_kind(case))
        if key not in serving:
            serving[key] = production_model(case.project, key[1])
        if serving[key] == version and queue_case(case, actor=actor, version=version):
            count += 1
    record("model.represegment", actor=actor, obj=version, project=version.project, cases=count)
    return count
