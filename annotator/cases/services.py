"""Case status changes: the only place a case's status is written.

new ──► presegmenting ──► ready ──► in_progress ──► submitted ──► accepted
 │            │             ▲ │          ▲                 │         │
 │            └─(opened)────┼─┼──────────┤                 ▼         │ (manager reopens)
 └──────────────────────────┴─┘          └──────────── rejected      │
                                          ◄──────────────────────────┘
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from annotator.audit.services import record
from annotator.core.errors import InvalidTransition

from .models import Case, CaseStatus

S = CaseStatus
TRANSITIONS: dict[str, frozenset[str]] = {
    S.NEW: frozenset({S.PRESEGMENTING, S.READY, S.IN_PROGRESS}),
    S.PRESEGMENTING: frozenset({S.READY, S.IN_PROGRESS}),
    S.READY: frozenset({S.PRESEGMENTING, S.IN_PROGRESS}),
    S.IN_PROGRESS: frozenset({S.SUBMITTED}),
    S.SUBMITTED: frozenset({S.ACCEPTED, S.REJECTED}),
    S.REJECTED: frozenset({S.IN_PROGRESS}),
    S.ACCEPTED: frozenset({S.IN_PROGRESS}),
}
# Statuses in which the annotator may change masks (saving moves the case to in_progress).
EDITABLE = frozenset({S.NEW, S.PRESEGMENTING, S.READY, S.IN_PROGRESS, S.REJECTED})


def can_transition(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


@transaction.atomic
def transition(case: Case, to: str, *, actor=None, actor_label: str = "", **details) -> Case:
    """Move `case` to status `to`, or raise InvalidTransition.

    The update is conditional on the status and version the caller saw, so two concurrent
    changes cannot both succeed; `case` is refreshed in place.
    """
    current = case.status
    if not can_transition(current, to):
        raise InvalidTransition(
            f"case {case.study_id} is {current}; it cannot move to {to}",
            extra={"status": current},
        )
    now = timezone.now()
    fields: dict = {"status": to, "version": F("version") + 1, "updated_at": now}
    if to == S.IN_PROGRESS and case.first_opened_at is None:
        fields["first_opened_at"] = now
    if to == S.SUBMITTED:
        fields["submitted_at"] = now
    if to in (S.ACCEPTED, S.REJECTED):
        fields["closed_at"] = now
    if to == S.IN_PROGRESS:
        fields["closed_at"] = None
    changed = Case.objects.filter(pk=case.pk, status=current, version=case.version).update(**fields)
    if not changed:
        case.refresh_from_db()
        raise InvalidTransition(
            f"case {case.study_id} was changed by someone else (now {case.status}); reload it",
            extra={"status": case.status},
        )
    case.refresh_from_db()
    record(
        "case.status",
        actor=actor,
        actor_label=actor_label,
        obj=case,
        project=case.project,
        **{"from": current, "to": to, **details},
    )
    return case


def ensure_in_progress(case: Case, *, actor) -> Case:
    """Open a case for editing (first open records the time); no-op when already open."""
    if case.status == S.IN_PROGRESS:
        return case
    if case.status not in EDITABLE:
        raise InvalidTransition(
            f"case {case.study_id} is {case.status} and cannot be edited",
            extra={"status": case.status},
        )
    return transition(case, S.IN_PROGRESS, actor=actor)
