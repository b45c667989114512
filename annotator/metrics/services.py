"""Writes for the analytics: the per-target outcome row, computed once at acceptance.

`record_outcome(target)` reads the target's history (revisions, re-prompts, reviews, the case's
first open and first submission) and stores the figures the project metrics aggregate. The
review flow calls `outcome_on_commit(target_id)` after every review; `backfill_outcomes` (the
`record_outcomes` command) fills in whatever was missed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from annotator.annotations.models import (
    Assignment,
    Decision,
    MaskRevision,
    PresegmentJob,
    RevisionSource,
    Target,
)
from annotator.annotations.selectors import revision_mask
from annotator.audit.models import AuditEvent
from annotator.cases.models import Case, CaseStatus

from .models import TargetOutcome

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Overlap:
    model_voxels: int
    accepted_voxels: int
    changed_voxels: int  # |M xor A|
    dice: float
    changed_fraction: float
    unchanged: bool


def overlap(model: np.ndarray, accepted: np.ndarray) -> Overlap:
    """Dice and changed-voxel fraction of the model's mask M against the accepted mask A."""
    m, a = model.astype(bool, copy=False), accepted.astype(bool, copy=False)
    if m.shape != a.shape:
        raise ValueError(f"mask shapes differ: {m.shape} vs {a.shape}")
    nm, na = int(np.count_nonzero(m)), int(np.count_nonzero(a))
    inter = int(np.count_nonzero(m & a))
    union = nm + na - inter
    changed = union - inter
    return Overlap(
        model_voxels=nm,
        accepted_voxels=na,
        changed_voxels=changed,
        dice=1.0 if nm + na == 0 else 2.0 * inter / (nm + na),
        changed_fraction=0.0 if union == 0 else changed / union,
        unchanged=changed == 0,
    )


def revision_overlap(model: MaskRevision, accepted: MaskRevision) -> Overlap:
    """Checksum equality is the exact test for "unchanged" and spares reading the files."""
    if model.checksum == accepted.checksum:
        n = int(accepted.voxel_count)
        return Overlap(n, n, 0, 1.0, 0.0, True)
    return overlap(revision_mask(model), revision_mask(accepted))


def _case_events(case: Case, to: str) -> QuerySet[AuditEvent]:
    """The case's status changes to `to`, from the audit trail."""
    return AuditEvent.objects.filter(
        action="case.status",
        object_type=Case._meta.label_lower,
        object_id=str(case.pk),
        data__to=to,
    )


def first_submitted_at(case: Case) -> datetime | None:
    """The case's first submission, from the audit trail (Case.submitted_at is the latest)."""
    first = (
        _case_events(case, CaseStatus.SUBMITTED)
        .order_by("created_at", "id")
        .values_list("created_at", flat=True)
        .first()
    )
    return first or case.submitted_at


def _annotator(case: Case, human: list[MaskRevision]):
    """The case's assignee at acceptance (else its latest), else the last human author."""
    assignment = (
        Assignment.objects.filter(case=case).order_by("-active", "-created_at", "-id").first()
    )
    if assignment is not None:
        return assignment.annotator_id
    authors = [r.author_id for r in human if r.author_id]
    return authors[-1] if authors else None


def _sum_known(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(sum(known)) if known else None


@transaction.atomic
def record_outcome(target: Target | int) -> TargetOutcome | None:
    """Compute and store the outcome of an accepted target; idempotent.

    A target is accepted when its latest review accepts. If it is not (never reviewed, or the
    latest review rejects), any earlier outcome row is removed and None is returned.
    """
    target_id = target if isinstance(target, int) else target.pk
    target = Target.objects.select_related("case__project").get(pk=target_id)
    case = target.case
    accept = target.reviews.order_by("-created_at", "-id").select_related("revision").first()
    if accept is None or accept.decision != Decision.ACCEPT or accept.revision is None:
        TargetOutcome.objects.filter(target=target).delete()
        return None
    accepted_at = accept.created_at
    revisions = list(
        target.revisions.filter(created_at__lte=accepted_at)
        .select_related("model_version")
        .order_by("created_at", "id")
    )
    human = [r for r in revisions if r.source == RevisionSource.HUMAN]
    model = [r for r in revisions if r.source == RevisionSource.MODEL]
    opened = case.first_opened_at
    submitted = first_submitted_at(case)
    case_wall = (
        (submitted - opened).total_seconds()
        if opened and submitted and submitted >= opened
        else None
    )
    n_targets = max(1, case.targets.count())
    # No human save means nothing was edited: zero active seconds, not unknown.
    active = _sum_known([r.active_seconds for r in human]) if human else 0.0
    rework = [r for r in human if submitted and r.created_at > submitted]
    rework_active = _sum_known([r.active_seconds for r in rework]) if rework else 0.0
    values = {
        "project_id": case.project_id,
        "case_id": case.pk,
        "label": target.label,
        "annotator_id": _annotator(case, human),
        "reviewer_id": accept.reviewer_id,
        "accepted_revision": accept.revision,
        "accepted_at": accepted_at,
        "accepted_on": timezone.localdate(accepted_at),
        "ai_assisted": bool(model),
        "active_seconds": active,
        "rework_active_seconds": rework_active,
        "case_wall_seconds": case_wall,
        "wall_seconds": case_wall / n_targets if case_wall is not None else None,
        "human_revisions": len(human),
        "model_revisions": len(model),
        "reprompts": PresegmentJob.objects.filter(
            target=target, automatic=False, created_at__lte=accepted_at
        ).count(),
        "rejections": target.reviews.filter(
            decision=Decision.REJECT, created_at__lte=accepted_at
        ).count(),
        "case_rejections": _case_events(case, CaseStatus.REJECTED)
        .filter(created_at__lte=accepted_at)
        .count(),
        "first_opened_at": opened,
        "first_submitted_at": submitted,
        "model_revision": None,
        "model_version": None,
        "model_round": None,
        "model_voxels": None,
        "accepted_voxels": accept.revision.voxel_count,
        "changed_voxels": None,
        "dice": None,
        "changed_fraction": None,
        "accepted_unchanged": None,
        "model_flagged": False,
    }
    if model:
        first = model[0]
        quality = revision_overlap(first, accept.revision)
        values.update(
            model_revision=first,
            model_version=first.model_version,
            model_round=first.model_version.round_number if first.model_version else None,
            model_voxels=quality.model_voxels,
            changed_voxels=quality.changed_voxels,
            dice=quality.dice,
            changed_fraction=quality.changed_fraction,
            accepted_unchanged=quality.unchanged,
            model_flagged=bool(first.flags),
        )
    outcome, _ = TargetOutcome.objects.update_or_create(target=target, defaults=values)
    return outcome


def outcome_on_commit(target_id: int) -> None:
    """Called by the review flow: (re)compute the target's outcome once the review commits.

    The work (it reads two mask files) goes to the `default` Celery queue; if the broker cannot
    take it, it runs here, and `record_outcomes` catches anything that was lost.
    """

    def enqueue() -> None:
        from . import tasks

        try:
            tasks.record_outcome.delay(target_id)
        except Exception:  # broker down: do it now rather than lose it
            log.warning("could not queue the outcome of target %s; computing inline", target_id)
            record_outcome(target_id)

    transaction.on_commit(enqueue)


def targets_needing_outcomes(project=None, *, missing_only: bool = True) -> QuerySet[Target]:
    """Reviewed targets (of a project) whose outcome row is missing (or all reviewed ones)."""
    qs = Target.objects.filter(reviews__isnull=False).distinct()
    if project is not None:
        qs = qs.filter(case__project=project)
    if missing_only:
        qs = qs.filter(outcome__isnull=True, reviews__decision=Decision.ACCEPT)
    return qs.order_by("pk")


def backfill_outcomes(project=None, *, missing_only: bool = True, progress=None) -> int:
    """Recompute outcomes; returns how many targets now have one."""
    ids = list(
        targets_needing_outcomes(project, missing_only=missing_only).values_list("pk", flat=True)
    )
    stored = 0
    for i, target_id in enumerate(ids):
        if record_outcome(target_id) is not None:
            stored += 1
        if progress:
            progress(i + 1, len(ids))
    return stored
