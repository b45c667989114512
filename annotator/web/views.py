"""Server-rendered pages: projects, worklist, review queue, a manager's project page, and the
page that hosts the viewer (a Vite build; see frontend/ and docs/viewer.md)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from annotator.annotations import services as annotation_services
from annotator.annotations.models import Assignment, Decision, Review
from annotator.cases import selectors
from annotator.cases.models import Case, CaseStatus
from annotator.cases.services import EDITABLE
from annotator.core.errors import DomainError
from annotator.projects.access import has_role, roles, visible_projects
from annotator.projects.models import Membership, ProjectKind, Role

from . import vite

# Worklist filters: name → statuses (None: every status).
WORKLIST_FILTERS: dict[str, list[str] | None] = {
    "todo": list(selectors.QUEUE_STATUSES),
    "rejected": [CaseStatus.REJECTED],
    "in_progress": [CaseStatus.IN_PROGRESS],
    "ready": [CaseStatus.NEW, CaseStatus.PRESEGMENTING, CaseStatus.READY],
    "submitted": [CaseStatus.SUBMITTED],
    "accepted": [CaseStatus.ACCEPTED],
    "all": None,
}


def _with_assignee(qs):
    active = Assignment.objects.filter(active=True).select_related("annotator")
    return qs.prefetch_related(
        Prefetch("assignments", queryset=active, to_attr="active_assignments")
    )


def _rejection_comments(cases) -> dict[int, str]:
    """The latest rejection comment of each rejected case (shown in the worklist)."""
    ids = [c.pk for c in cases if c.status == CaseStatus.REJECTED]
    comments: dict[int, str] = {}
    reviews = Review.objects.filter(target__case_id__in=ids, decision=Decision.REJECT).order_by(
        "-created_at"
    )
    for review in reviews.values("target__case_id", "comment"):
        comments.setdefault(review["target__case_id"], review["comment"])
    return comments


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    projects = visible_projects(user).annotate(case_count=Count("cases", distinct=True))
    rows = []
    for project in projects.order_by("name"):
        held = roles(user, project)
        mine = Case.objects.filter(
            project=project, assignments__annotator=user, assignments__active=True
        )
        rows.append(
            {
                "project": project,
                "roles": sorted(held),
                "open": mine.filter(status__in=selectors.QUEUE_STATUSES).count(),
                "to_review": Case.objects.filter(project=project, status=CaseStatus.SUBMITTED)
                .exclude(assignments__annotator=user, assignments__active=True)
                .count()
                if Role.REVIEWER in held
                else None,
                "is_manager": Role.MANAGER in held,
            }
        )
    annotates = user.is_staff or any(Role.ANNOTATOR in row["roles"] for row in rows)
    return render(request, "web/home.html", {"rows": rows, "annotates": annotates})


@login_required
def worklist(request: HttpRequest) -> HttpResponse:
    current = request.GET.get("status", "todo")
    if current not in WORKLIST_FILTERS:
        current = "todo"
    qs = Case.objects.filter(
        assignments__annotator=request.user, assignments__active=True
    ).select_related("project", "image")
    statuses = WORKLIST_FILTERS[current]
    if statuses is not None:
        qs = qs.filter(status__in=statuses)
    qs = qs.annotate(target_count=Count("targets", distinct=True)).order_by("-updated_at", "-id")
    cases = list(qs[:500])
    comments = _rejection_comments(cases)
    for case in cases:
        case.rejection_comment = comments.get(case.pk, "")
    counts = dict(
        Case.objects.filter(assignments__annotator=request.user, assignments__active=True)
        .values_list("status")
        .annotate(n=Count("id", distinct=True))
    )
    filters = []
    for name, members in WORKLIST_FILTERS.items():
        n = sum(counts.values()) if members is None else sum(counts.get(s, 0) for s in members)
        label = "To do" if name == "todo" else name.replace("_", " ").capitalize()
        filters.append({"name": name, "label": label, "count": n})
    return render(
        request, "web/worklist.html", {"cases": cases, "filters": filters, "current": current}
    )


@login_required
@require_POST
def next_case(request: HttpRequest) -> HttpResponse:
    project = None
    if request.POST.get("project"):
        project = get_object_or_404(visible_projects(request.user), pk=request.POST["project"])
    case = annotation_services.next_case_for(request.user, project)
    if case is None:
        messages.info(request, "Nothing left in your queue. Well done.")
        return redirect("web:worklist")
    return redirect("web:case", pk=case.pk)


@login_required
def review_queue(request: HttpRequest) -> HttpResponse:
    user = request.user
    qs = Case.objects.filter(status=CaseStatus.SUBMITTED).select_related("project", "image")
    if not user.is_staff:
        reviewing = Membership.objects.filter(user=user, role=Role.REVIEWER).values("project_id")
        qs = qs.filter(project_id__in=reviewing).exclude(
            assignments__annotator=user, assignments__active=True
        )
    qs = _with_assignee(qs.annotate(target_count=Count("targets", distinct=True)))
    cases = list(qs.order_by("submitted_at", "id")[:500])
    recent = (
        Review.objects.filter(reviewer=user)
        .select_related("target__case__project")
        .order_by("-created_at")[:10]
    )
    return render(request, "web/review.html", {"cases": cases, "recent": recent})


@login_required
def project_page(request: HttpRequest, pk: int) -> HttpResponse:
    project = get_object_or_404(visible_projects(request.user), pk=pk)
    if not has_role(request.user, project, Role.MANAGER):
        raise PermissionDenied("only the project's managers see this page")
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
    annotators = list(
        get_user_model()
        .objects.filter(memberships__project=project, memberships__role=Role.ANNOTATOR)
        .annotate(
            open=Count(
                "assignments",
                filter=Q(
                    assignments__active=True,
                    assignments__case__project=project,
                    assignments__case__status__in=selectors.QUEUE_STATUSES,
                ),
                distinct=True,
            ),
            done=Count(
                "assignments",
                filter=Q(
                    assignments__active=True,
                    assignments__case__project=project,
                    assignments__case__status=CaseStatus.ACCEPTED,
                ),
                distinct=True,
            ),
        )
        .order_by("username")
        .distinct()
    )
    current = request.GET.get("status", "")
    cases = Case.objects.filter(project=project).select_related("image")
    if current in CaseStatus.values:
        cases = cases.filter(status=current)
    cases = _with_assignee(cases.annotate(target_count=Count("targets", distinct=True)))
    return render(
        request,
        "web/project.html",
        {
            "project": project,
            "progress": progress,
            "total": total,
            "annotators": annotators,
            "cases": list(cases.order_by("created_at", "id")[:1000]),
            "statuses": CaseStatus.choices,
            "current": current,
            "assignable": {CaseStatus.SUBMITTED, CaseStatus.ACCEPTED},
        },
    )


@login_required
@require_POST
def assign_cases(request: HttpRequest, pk: int) -> HttpResponse:
    """Assign the selected cases of a project to one annotator (managers only)."""
    project = get_object_or_404(visible_projects(request.user), pk=pk)
    if not has_role(request.user, project, Role.MANAGER):
        raise PermissionDenied("only the project's managers assign cases")
    annotator = get_user_model().objects.filter(username=request.POST.get("annotator")).first()
    case_ids = [int(v) for v in request.POST.getlist("cases") if v.isdigit()]
    if annotator is None or not case_ids:
        messages.error(request, "Choose an annotator and at least one case.")
        return redirect("web:project", pk=pk)
    done, failed = 0, []
    for case in Case.objects.filter(project=project, pk__in=case_ids):
        try:
            annotation_services.assign(case, annotator, actor=request.user)
            done += 1
        except DomainError as exc:
            failed.append(f"{case.study_id}: {exc.message}")
    if done:
        messages.success(request, f"Assigned {done} case(s) to {annotator.username}.")
    for problem in failed:
        messages.error(request, problem)
    return redirect(f"{reverse('web:project', args=[pk])}?{request.GET.urlencode()}")


def viewer_mode(user, case: Case) -> str:
    """annotate (the assigned annotator, case editable), review (a reviewer of a submitted case
    they did not annotate) or view (read-only)."""
    assignee = selectors.is_assignee(user, case)
    if case.status in EDITABLE and (
        user.is_staff or (assignee and has_role(user, case.project, Role.ANNOTATOR))
    ):
        return "annotate"
    reviewer = has_role(user, case.project, Role.REVIEWER) and (user.is_staff or not assignee)
    if case.status == CaseStatus.SUBMITTED and reviewer:
        return "review"
    return "view"


def _initial_data(request: HttpRequest, case: Case) -> tuple[dict, list]:
    """The case and its targets as the API serves them, inlined in the page so that opening a
    case waits for nothing but the image."""
    from annotator.annotations.models import Target
    from annotator.annotations.serializers import TargetSerializer
    from annotator.cases.api import _with_details
    from annotator.cases.serializers import CaseSerializer

    detailed = _with_details(Case.objects.filter(pk=case.pk)).get()
    targets = (
        Target.objects.filter(case=case)
        .select_related("case__project", "head")
        .prefetch_related("reviews__reviewer")
    )
    context = {"request": request}
    return (
        CaseSerializer(detailed, context=context).data,
        TargetSerializer(targets, many=True, context=context).data,
    )


# Volumes larger than this (the viewer's "slice mode" threshold, frontend/src/view.js) open
# with their key slice first, fetched on its own while the whole volume downloads.
PREVIEW_MIN_VOXELS = 8 * 1024 * 1024


def _preview_slice(case: Case, targets: list) -> int | None:
    image = case.image
    nx, ny, nz = image.shape[:3]
    if image.kind != ProjectKind.VOLUME or nx * ny * nz <= PREVIEW_MIN_VOXELS:
        return None
    return int(targets[0]["key_index"]) if targets else nz // 2


@login_required
def case_viewer(request: HttpRequest, pk: int) -> HttpResponse:
    case = selectors.visible_case(request.user, pk)
    if case is None:
        raise Http404("No such case.")
    mode = viewer_mode(request.user, case)
    case_data, targets = _initial_data(request, case)
    try:
        assets = vite.entry_assets()
        error = ""
    except vite.ViewerNotBuilt as exc:
        assets, error = None, str(exc)
    config = {
        "caseId": case.pk,
        "apiBase": "/api/v1",
        "wsPath": f"/ws/cases/{case.pk}/progress",
        "csrfToken": get_token(request),
        "mode": mode,
        "user": request.user.get_username(),
        "labels": case.project.label_names(),
        "case": case_data,
        "targets": targets,
        "previewSlice": _preview_slice(case, targets),
        "urls": {
            "worklist": reverse("web:worklist"),
            "review": reverse("web:review"),
            "next": reverse("web:next"),
            "home": reverse("web:home"),
        },
    }
    return render(
        request,
        "web/viewer.html",
        {"case": case, "config": config, "assets": assets, "error": error, "mode": mode},
    )


class SignInView(auth_views.LoginView):
    """Django's sign-in, rate limited per client address like the token endpoint."""

    def post(self, request, *args, **kwargs):
        from annotator.core.throttles import SigninThrottle

        throttle = SigninThrottle()
        if not throttle.allow_request(request, self):
            wait = int(throttle.wait() or 60)
            response = self.render_to_response(
                self.get_context_data(
                    throttled=f"Too many sign-in attempts. Try again in {wait} seconds."
                ),
                status=429,
            )
            response["Retry-After"] = str(wait)
            return response
        return super().post(request, *args, **kwargs)
