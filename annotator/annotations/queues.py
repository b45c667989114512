"""Reads behind the work pages: per-project counts for the home page, an annotator's worklist,
a reviewer's queue and a manager's view of project progress. Each is a fixed number of queries,
whatever the number of projects or cases."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, QuerySet

from annotator.cases.models import Case, CaseStatus
from annotator.cases.selectors import QUEUE_STATUSES
from annotator.projects import policy
from annotator.projects.models import Membership, Project

from . import selectors
from .models import Review
from .selectors import LIVE_TARGET_COUNT, rejection_comments, with_assignee

# Worklist filters: name → statuses (None: every status).
WORKLIST_FILTERS: dict[str, list[str] | None] = {
    "todo": list(QUEUE_STATUSES),
    "rejected": [CaseStatus.REJECTED],
    "in_progress": [CaseStatus.IN_PROGRESS],
    "ready": [CaseStatus.NEW, CaseStatus.PRESEGMENTING, CaseStatus.READY],
    "submitted": [CaseStatus.SUBMITTED],
    "accepted": [CaseStatus.ACCEPTED],
    "all": None,
}


def _assigned_to(user) -> Q:
    return Q(assignments__annotator=user, assignments__active=True)


def home_rows(user) -> list[dict]:
    """Per visible project: the user's roles, their open cases and (reviewers) cases waiting
    for review that they did not annotate. Four queries in all."""
    projects = list(
        policy.visible_projects(user)
        .annotate(case_count=Count("cases", distinct=True))
        .order_by("name")
    )
    ids = [p.pk for p in projects]
    policy.prime_roles(user, ids)
    workers = policy.granted_roles("case.edit", assignee=True)
    mine = Case.objects.filter(_assigned_to(user), project_id__in=ids)
    open_counts = dict(
        mine.filter(status__in=QUEUE_STATUSES)
        .values_list("project_id")
        .annotate(n=Count("id", distinct=True))
    )
    waiting = dict(
        Case.objects.filter(project_id__in=ids, status=CaseStatus.SUBMITTED)
        .exclude(_assigned_to(user))
        .values_list("project_id")
        .annotate(n=Count("id", distinct=True))
    )
    rows = []
    for project in projects:
        held = policy.roles(user, project)
        rows.append(
            {
                "project": project,
                "roles": sorted(held),
                "open": open_counts.get(project.pk, 0),
                "to_review": waiting.get(project.pk, 0)
                if policy.can(user, "case.review", project, assignee=False)
                else None,
                "is_manager": policy.can(user, "project.manage", project),
                "annotates": bool(held & workers),
            }
        )
    return rows


def worklist(user, current: str) -> tuple[list[Case], list[dict]]:
    """The user's assigned cases under filter ``current`` (newest change first, with the latest
    rejection comment and the model's ``uncertainty``), and every filter with its count."""
    qs = Case.objects.filter(_assigned_to(user)).select_related("project", "image")
    statuses = WORKLIST_FILTERS[current]
    if statuses is not None:
        qs = qs.filter(status__in=statuses)
    qs = qs.annotate(
        target_count=LIVE_TARGET_COUNT, uncertainty=selectors.case_uncertainty()
    ).order_by("-updated_at", "-id")
    cases = list(qs[:500])
    comments = rejection_comments(cases)
    for case in cases:
        case.rejection_comment = comments.get(case.pk, "")
    flagged = selectors.flag_counts(c.pk for c in cases)
    for case in cases:  # targets whose model mask was flagged: {"flagged", "empty"} or None
        case.flags = flagged.get(case.pk)
    counts = dict(
        Case.objects.filter(_assigned_to(user))
        .values_list("status")
        .annotate(n=Count("id", distinct=True))
    )
    filters = []
    for name, members in WORKLIST_FILTERS.items():
        n = sum(counts.values()) if members is None else sum(counts.get(s, 0) for s in members)
        label = "To do" if name == "todo" else name.replace("_", " ").capitalize()
        filters.append({"name": name, "label": label, "count": n})
    return cases, filters


def review_queue(user) -> list[Case]:
    """Submitted cases the user may review (policy "case.review"), oldest submission first."""
    qs = Case.objects.filter(status=CaseStatus.SUBMITTED).select_related("project", "image")
    if not user.is_staff:
        reviewing = Membership.objects.filter(
            user=user, role__in=policy.granted_roles("case.review", assignee=False)
        ).values("project_id")
        qs = qs.filter(project_id__in=reviewing).exclude(_assigned_to(user))
    qs = with_assignee(qs.annotate(target_count=LIVE_TARGET_COUNT), to_attr="active_assignments")
    return list(qs.order_by("submitted_at", "id")[:500])


def recent_reviews(user) -> QuerySet[Review]:
    return (
        Review.objects.filter(reviewer=user)
        .select_related("target__case__project")
        .order_by("-created_at")[:10]
    )


def project_progress(project: Project) -> tuple[list[dict], int]:
    """Cases per status (with their share) and the total."""
    counts = dict(
        Case.objects.filter(project=project).values_list("status").annotate(n=Count("id"))
    )
    total = sum(counts.values())
    progress = [
        {
            "status": value,
            "label": label,
            "count": counts.get(value, 0),
            "percent": round(100 * counts.get(value, 0) / total, 1) if total else 0,
        }
        for value, label in CaseStatus.choices
    ]
    return progress, total


def project_annotators(project: Project) -> list:
    """The project's annotators with their open and accepted case counts."""
    here = Q(assignments__active=True, assignments__case__project=project)
    return list(
        get_user_model()
        .objects.filter(
            memberships__project=project,
            memberships__role__in=policy.granted_roles("case.edit", assignee=True),
        )
        .annotate(
            open=Count(
                "assignments",
                filter=here & Q(assignments__case__status__in=QUEUE_STATUSES),
                distinct=True,
            ),
            done=Count(
                "assignments",
                filter=here & Q(assignments__case__status=CaseStatus.ACCEPTED),
                distinct=True,
            ),
        )
        .order_by("username")
        .distinct()
    )


def project_cases(project: Project, status: str) -> list[Case]:
    """The project's cases (optionally of one status) with assignee and target count."""
    cases = Case.objects.filter(project=project).select_related("image")
    if status in CaseStatus.values:
        cases = cases.filter(status=status)
    cases = with_assignee(
        cases.annotate(target_count=LIVE_TARGET_COUNT), to_attr="active_assignments"
    )
    return list(cases.order_by("created_at", "id")[:1000])
