"""Writes for targets, mask revisions, assignments and reviews."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotator.audit.services import record
from annotator.cases import services as case_services
from annotator.cases.models import Case, CaseStatus
from annotator.cases.selectors import image_header, is_assignee
from annotator.core.errors import Conflict, InvalidInput, NotAllowed, StaleParent
from annotator.metrics.services import outcome_on_commit
from annotator.projects.access import has_role, require_role
from annotator.projects.models import Membership, Role

from . import masks
from .models import Assignment, Decision, MaskRevision, Review, RevisionSource, Target

# ---------------------------------------------------------------- permissions


def require_editor(user, case: Case) -> None:
    """Masks and prompts are edited by the case's assigned annotator (or an admin)."""
    if user.is_staff:
        return
    if not (has_role(user, case.project_id, Role.ANNOTATOR) and is_assignee(user, case)):
        raise NotAllowed("only the annotator assigned to this case can change it")


# ---------------------------------------------------------------- targets


def validate_prompt(
    case: Case, *, label: str, key_index: int, box: list | None, points: list | None
) -> tuple[list[float] | None, list[dict]]:
    image = case.image
    nx, ny, nz = image.shape
    if label not in case.project.label_names():
        raise InvalidInput(
            f"unknown label {label!r}; this project's labels are {case.project.label_names()}"
        )
    if not 0 <= key_index < nz:
        unit = "frame" if image.kind == "video" else "slice"
        raise InvalidInput(f"key {unit} {key_index} is outside 0..{nz - 1}")
    clean_box = None
    if box is not None:
        if not isinstance(box, list | tuple) or len(box) != 4:
            raise InvalidInput("box must be [x0, y0, x1, y1]")
        x0, y0, x1, y1 = (float(v) for v in box)
        if not (0 <= x0 < x1 <= nx and 0 <= y0 < y1 <= ny):
            raise InvalidInput(
                f"box {list(box)} lies outside the image or is empty: it must satisfy "
                f"0 <= x0 < x1 <= {nx} and 0 <= y0 < y1 <= {ny}"
            )
        clean_box = [x0, y0, x1, y1]
    clean_points = []
    for p in points or []:
        try:
            x, y, z = float(p["x"]), float(p["y"]), int(p.get("z", key_index))
            positive = bool(p.get("positive", True))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput('each point needs "x", "y" (and optional "z", "positive")') from exc
        if not (0 <= x < nx and 0 <= y < ny and 0 <= z < nz):
            raise InvalidInput(f"point ({x}, {y}, {z}) is outside the image")
        clean_points.append({"x": x, "y": y, "z": z, "positive": positive})
    return clean_box, clean_points


@transaction.atomic
def create_target(
    case: Case, *, actor, label: str, key_index: int, box=None, points=None
) -> Target:
    clean_box, clean_points = validate_prompt(
        case, label=label, key_index=key_index, box=box, points=points
    )
    target = Target.objects.create(
        case=case,
        label=label,
        key_index=key_index,
        box=clean_box,
        points=clean_points,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    record("target.create", actor=actor, obj=target, project=case.project, label=label)
    return target


@transaction.atomic
def update_prompt(target: Target, *, actor, key_index: int, box=None, points=None) -> Target:
    clean_box, clean_points = validate_prompt(
        target.case, label=target.label, key_index=key_index, box=box, points=points
    )
    target.key_index, target.box, target.points = key_index, clean_box, clean_points
    target.save(update_fields=["key_index", "box", "points"])
    record("target.prompt", actor=actor, obj=target, project=target.case.project)
    return target


# ---------------------------------------------------------------- revisions


@dataclass
class SaveResult:
    revision: MaskRevision
    created: bool  # False when an idempotent retry found the revision already stored


def _existing_for_key(target: Target, key: str | None) -> MaskRevision | None:
    if not key:
        return None
    existing = MaskRevision.objects.filter(idempotency_key=key).first()
    if existing is not None and existing.target_id != target.pk:
        raise Conflict("this Idempotency-Key was already used for another target")
    return existing


def store_revision(
    target: Target,
    mask: masks.DecodedMask,
    *,
    parent_id: int | None,
    source: str,
    author=None,
    model_version=None,
    active_seconds: float | None = None,
    note: str = "",
    idempotency_key: str | None = None,
    key_checked: bool = False,
) -> SaveResult:
    """Write the mask file (atomically), then record the revision and move the target's head.

    The head moves only if it still is `parent_id` (compare-and-set), so a stale parent raises
    StaleParent and nothing is kept. The file is written before the database commit and removed
    if the commit does not happen, so a failure leaves the previous revision as it was.
    """
    # (key_checked: the caller has just looked the key up; a race is caught by the unique index)
    existing = None if key_checked else _existing_for_key(target, idempotency_key)
    if existing is not None:
        return SaveResult(existing, created=False)
    if target.head_id != parent_id:
        raise _stale(target, parent_id)
    header_bytes, _, _ = image_header(target.case.image)
    payload = masks.encode_nifti(mask.array, image_header_bytes=header_bytes)
    revision = MaskRevision(
        target=target,
        parent_id=parent_id,
        source=source,
        author=author if getattr(author, "is_authenticated", False) else None,
        model_version=model_version,
        checksum=mask.checksum,
        voxel_count=mask.voxel_count,
        active_seconds=active_seconds,
        note=note[:500],
        idempotency_key=idempotency_key or None,
    )
    name = revision.file.field.generate_filename(revision, f"{uuid.uuid4().hex}.nii.gz")
    stored_name = default_storage.save(name, ContentFile(payload))
    revision.file.name = stored_name
    try:
        with transaction.atomic():
            revision.save()
            moved = Target.objects.filter(pk=target.pk, head_id=parent_id).update(
                head_id=revision.pk
            )
            if not moved:
                raise _stale(target, parent_id)
            record(
                "revision.create",
                actor=author,
                actor_label=f"model:{model_version.name}" if model_version else "",
                obj=revision,
                project=target.case.project,
                target=target.pk,
                parent=parent_id,
                source=source,
                voxels=mask.voxel_count,
            )
    except IntegrityError:
        default_storage.delete(stored_name)
        existing = _existing_for_key(target, idempotency_key)
        if existing is not None:  # a concurrent retry with the same key won the race
            return SaveResult(existing, created=False)
        raise
    except BaseException:
        default_storage.delete(stored_name)
        raise
    target.head_id = revision.pk
    return SaveResult(revision, created=True)


def _stale(target: Target, parent_id: int | None) -> StaleParent:
    current = Target.objects.filter(pk=target.pk).values_list("head_id", flat=True).first()
    return StaleParent(
        f"target {target.pk} has changed since revision {parent_id}: the current revision is "
        f"{current}. Reload it, or save yours again naming {current} as the parent.",
        extra={"current_revision": current},
    )


def save_human_revision(
    target: Target,
    *,
    actor,
    data: bytes,
    parent_id: int | None,
    raw_shape: tuple[int, int, int] | None = None,
    active_seconds: float | None = None,
    note: str = "",
    idempotency_key: str | None = None,
) -> SaveResult:
    case = target.case
    require_editor(actor, case)
    if active_seconds is not None and not (0 <= active_seconds <= 24 * 3600):
        raise InvalidInput("active_seconds must be between 0 and 86400")
    existing = _existing_for_key(target, idempotency_key)
    if existing is not None:
        return SaveResult(existing, created=False)
    if case.status not in case_services.EDITABLE:
        raise Conflict(
            f"case {case.study_id} is {case.status}; it can no longer be edited",
            code="case_locked",
        )
    _, affine, shape = image_header(case.image)
    decoded = masks.decode_upload(
        data,
        image_shape_xyz=tuple(case.image.shape),
        image_affine=affine,
        raw_shape_xyz=raw_shape,
        max_bytes=settings.MASK_MAX_UPLOAD_BYTES,
    )
    result = store_revision(
        target,
        decoded,
        parent_id=parent_id,
        source=RevisionSource.HUMAN,
        author=actor,
        active_seconds=active_seconds,
        note=note,
        idempotency_key=idempotency_key,
        key_checked=True,
    )
    if result.created:
        case_services.ensure_in_progress(case, actor=actor)
    return result


def save_model_revision(
    target: Target,
    mask_zyx: np.ndarray,
    *,
    model_version,
    parent_id: int | None,
    idempotency_key: str,
    note: str = "",
) -> SaveResult:
    return store_revision(
        target,
        masks.summarize(mask_zyx),
        parent_id=parent_id,
        source=RevisionSource.MODEL,
        model_version=model_version,
        note=note,
        idempotency_key=idempotency_key,
    )


# ---------------------------------------------------------------- assignment and workflow


@transaction.atomic
def assign(case: Case, annotator, *, actor) -> Assignment:
    require_role(actor, case.project, Role.MANAGER)
    if not Membership.objects.filter(
        project=case.project, user=annotator, role=Role.ANNOTATOR
    ).exists():
        raise InvalidInput(f"{annotator.username} is not an annotator in {case.project}")
    if case.status in (CaseStatus.SUBMITTED, CaseStatus.ACCEPTED):
        raise Conflict(f"case {case.study_id} is {case.status}; it cannot be reassigned")
    current = Assignment.objects.select_for_update().filter(case=case, active=True).first()
    if current is not None and current.annotator_id == annotator.pk:
        return current
    if current is not None:
        current.active, current.ended_at = False, timezone.now()
        current.save(update_fields=["active", "ended_at"])
    assignment = Assignment.objects.create(case=case, annotator=annotator, assigned_by=actor)
    record(
        "case.assign",
        actor=actor,
        obj=case,
        project=case.project,
        annotator=annotator.username,
        previous=current.annotator.username if current else None,
    )
    return assignment


def claim(case: Case, user) -> Assignment | None:
    """Self-assign an unassigned case; None if someone else got it first."""
    try:
        with transaction.atomic():
            assignment = Assignment.objects.create(case=case, annotator=user, assigned_by=user)
            record("case.claim", actor=user, obj=case, project=case.project)
            return assignment
    except IntegrityError:
        return None


def next_case_for(user, project=None) -> Case | None:
    """The annotator's next case: their queue first (rework, open, ready, new), else the oldest
    unassigned case of a project they annotate, claimed for them. None when there is nothing."""
    from annotator.cases import selectors

    case = selectors.my_queue(user, project).first()
    if case is not None:
        return case
    for candidate in selectors.unclaimed_cases(user, project)[:20]:
        if claim(candidate, user):
            return candidate
    return None


def start(case: Case, *, actor) -> Case:
    require_editor(actor, case)
    return case_services.ensure_in_progress(case, actor=actor)


@transaction.atomic
def submit(case: Case, *, actor) -> Case:
    require_editor(actor, case)
    missing = list(case.targets.filter(head__isnull=True).values_list("pk", flat=True))
    if missing:
        raise Conflict(
            f"every target needs a mask before the case is submitted; missing: {missing}",
            code="targets_without_mask",
        )
    if not case.targets.exists():
        raise Conflict("the case has no targets to submit", code="no_targets")
    return case_services.transition(case, CaseStatus.SUBMITTED, actor=actor)


def _require_reviewer(user, case: Case) -> None:
    require_role(user, case.project, Role.REVIEWER)
    if not user.is_staff and is_assignee(user, case):
        raise NotAllowed("you annotated this case; another reviewer must review it")
    if case.status != CaseStatus.SUBMITTED:
        raise Conflict(
            f"case {case.study_id} is {case.status}, not submitted", code="not_submitted"
        )


def _close_if_reviewed(case: Case, *, actor) -> Case:
    """Accept the case when every target's current mask is accepted; reject it when every target
    is reviewed and at least one was rejected."""
    verdicts = []
    for target in case.targets.all():
        last = target.reviews.filter(revision_id=target.head_id).first()
        if last is None:
            return case
        verdicts.append(last.decision)
    outcome = (
        CaseStatus.ACCEPTED if all(v == Decision.ACCEPT for v in verdicts) else CaseStatus.REJECTED
    )
    case = case_services.transition(case, outcome, actor=actor)
    if outcome == CaseStatus.ACCEPTED:
        transaction.on_commit(lambda: _after_acceptance(case))
    return case


def _after_acceptance(case: Case) -> None:
    """New accepted masks may make a threshold-scheduled fine-tuning round due."""
    from annotator.modelops.schedules import on_case_accepted

    on_case_accepted(case.project)


@transaction.atomic
def review_target(target: Target, *, actor, decision: str, comment: str = "") -> Review:
    case = Case.objects.select_for_update().get(pk=target.case_id)
    _require_reviewer(actor, case)
    if decision not in Decision.values:
        raise InvalidInput(f"decision must be one of {Decision.values}")
    if decision == Decision.REJECT and not comment.strip():
        raise InvalidInput("a rejection needs a comment telling the annotator what to fix")
    review = Review.objects.create(
        target=target,
        revision_id=target.head_id,
        reviewer=actor,
        decision=decision,
        comment=comment,
    )
    record("review", actor=actor, obj=target, project=case.project, decision=decision)
    _close_if_reviewed(case, actor=actor)
    outcome_on_commit(target.pk)  # (re)compute the target's metrics once this commits
    return review


@transaction.atomic
def review_case(case: Case, *, actor, decision: str, comment: str = "") -> Case:
    """Review every target of a submitted case that has no verdict on its current mask yet."""
    case = Case.objects.select_for_update().get(pk=case.pk)
    _require_reviewer(actor, case)
    for target in case.targets.all():
        if not target.reviews.filter(revision_id=target.head_id).exists():
            review_target(target, actor=actor, decision=decision, comment=comment)
    case.refresh_from_db()
    return case


@transaction.atomic
def reopen(case: Case, *, actor) -> Case:
    require_role(actor, case.project, Role.MANAGER)
    return case_services.transition(case, CaseStatus.IN_PROGRESS, actor=actor, reason="reopened")
