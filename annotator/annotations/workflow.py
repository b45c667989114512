"""The case workflow: assignment, the annotator's queue, submission, review and reopening.

Status changes go through cases.services.transition; every step checks the permission policy.
An accepted case is announced (events.case_accepted) for the layers above (fine-tuning
schedules), and every review (events.target_reviewed) for the metrics.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from annotator.audit.services import record
from annotator.cases import selectors as case_selectors
from annotator.cases import services as case_services
from annotator.cases.models import Case, CaseStatus
from annotator.cases.selectors import require_case
from annotator.core.errors import Conflict, InvalidInput
from annotator.projects import policy
from annotator.projects.models import Membership

from . import events
from .models import Assignment, Decision, Review, Target


@transaction.atomic
def assign(case: Case, annotator, *, actor) -> Assignment:
    require_case(actor, "case.assign", case)
    workers = policy.granted_roles("case.edit", assignee=True)  # who works on assigned cases
    if not Membership.objects.filter(
        project=case.project, user=annotator, role__in=workers
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
    case = case_selectors.my_queue(user, project).first()
    if case is not None:
        return case
    for candidate in case_selectors.unclaimed_cases(user, project)[:20]:
        if claim(candidate, user):
            return candidate
    return None


def start(case: Case, *, actor) -> Case:
    require_case(actor, "case.edit", case)
    return case_services.ensure_in_progress(case, actor=actor)


@transaction.atomic
def submit(case: Case, *, actor) -> Case:
    require_case(actor, "case.edit", case)
    missing = list(case.targets.filter(head__isnull=True).values_list("pk", flat=True))
    if missing:
        raise Conflict(
            f"every target needs a mask before the case is submitted; missing: {missing}",
            code="targets_without_mask",
        )
    if not case.targets.exists():
        raise Conflict("the case has no targets to submit", code="no_targets")
    _require_changes_since_review(case)
    return case_services.transition(case, CaseStatus.SUBMITTED, actor=actor)


def _require_changes_since_review(case: Case) -> None:
    """A submission must give the reviewer something to decide: a rejected target's mask must have
    changed since its rejection, and at least one target must wait for a verdict. Otherwise the
    case would sit in review with every verdict already given and nothing left to close it."""
    unchanged = []
    pending = False
    for target in case.targets.all():
        verdict = target.reviews.filter(revision_id=target.head_id).first()
        if verdict is None:
            pending = True
        elif verdict.decision == Decision.REJECT:
            unchanged.append(f"“{target.label}” (reviewer: {verdict.comment.strip()!r})")
    if unchanged:
        raise Conflict(
            "rejected and not corrected since: "
            + "; ".join(unchanged)
            + ". Correct these masks (a new revision) before submitting again.",
            code="rejected_unchanged",
        )
    if not pending:
        raise Conflict(
            "every target's mask was already reviewed and none has changed; "
            "edit a mask before submitting again",
            code="nothing_to_review",
        )


def _require_reviewer(user, case: Case) -> None:
    require_case(user, "case.review", case)
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
        transaction.on_commit(lambda: events.case_accepted.send(Case, case=case))
    return case


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
    events.target_reviewed.send(Target, target=target, review=review, actor=actor)
    return review


@transaction.atomic
def review_case(case: Case, *, actor, decision: str, comment: str = "") -> Case:
    """Review every target of a submitted case that has no verdict on its current mask yet.

    A case submitted before submissions were checked may hold a verdict on every current mask;
    it is closed on those verdicts instead of staying in review for good."""
    case = Case.objects.select_for_update().get(pk=case.pk)
    _require_reviewer(actor, case)
    pending = [
        t for t in case.targets.all() if not t.reviews.filter(revision_id=t.head_id).exists()
    ]
    if not pending:
        return _close_if_reviewed(case, actor=actor)
    for target in pending:
        review_target(target, actor=actor, decision=decision, comment=comment)
    case.refresh_from_db()
    return case


@transaction.atomic
def reopen(case: Case, *, actor) -> Case:
    require_case(actor, "case.reopen", case)
    return case_services.transition(case, CaseStatus.IN_PROGRESS, actor=actor, reason="reopened")
