"""Server-rendered pages: projects, worklist, review queue, a manager's project page, and the
page that hosts the viewer (a Vite build; see frontend/ and docs/viewer.md)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from annotator.annotations import queues, workflow
from annotator.annotations.selectors import case_details, case_targets
from annotator.annotations.serializers import TargetSerializer
from annotator.cases import selectors
from annotator.cases.models import Case, CaseStatus
from annotator.cases.serializers import CaseSerializer
from annotator.cases.services import EDITABLE
from annotator.core.api import parse_id
from annotator.core.errors import DomainError
from annotator.core.throttles import SigninThrottle
from annotator.projects import policy
from annotator.projects.models import ProjectKind, QueueOrder
from annotator.projects.selectors import get_visible_project
from annotator.projects.services import update_project

from . import vite


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    rows = queues.home_rows(user)
    annotates = user.is_staff or any(row["annotates"] for row in rows)
    return render(request, "web/home.html", {"rows": rows, "annotates": annotates})


@login_required
def worklist(request: HttpRequest) -> HttpResponse:
    current = request.GET.get("status", "todo")
    if current not in queues.WORKLIST_FILTERS:
        current = "todo"
    cases, filters = queues.worklist(request.user, current)
    return render(
        request, "web/worklist.html", {"cases": cases, "filters": filters, "current": current}
    )


@login_required
@require_POST
def next_case(request: HttpRequest) -> HttpResponse:
    project = None
    if request.POST.get("project"):
        project = get_object_or_404(
            policy.visible_projects(request.user), pk=parse_id(request.POST["project"])
        )
    case = workflow.next_case_for(request.user, project)
    if case is None:
        messages.info(request, "Nothing left in your queue. Well done.")
        return redirect("web:worklist")
    return redirect("web:case", pk=case.pk)


@login_required
def review_queue(request: HttpRequest) -> HttpResponse:
    user = request.user
    context = {"cases": queues.review_queue(user), "recent": queues.recent_reviews(user)}
    return render(request, "web/review.html", context)


@login_required
def project_page(request: HttpRequest, pk: int) -> HttpResponse:
    project = get_visible_project(request.user, pk)
    policy.require(request.user, "project.manage", project)
    progress, total = queues.project_progress(project)
    current = request.GET.get("status", "")
    return render(
        request,
        "web/project.html",
        {
            "project": project,
            "progress": progress,
            "total": total,
            "annotators": queues.project_annotators(project),
            "cases": queues.project_cases(project, current),
            "statuses": CaseStatus.choices,
            "current": current,
            "assignable": {CaseStatus.SUBMITTED, CaseStatus.ACCEPTED},
            "can_import": policy.can(request.user, "case.import", project),
            "can_change": policy.can(request.user, "project.change", project),
            "queue_orders": QueueOrder.choices,
        },
    )


@login_required
def import_page(request: HttpRequest, pk: int) -> HttpResponse:
    """Managers upload studies (folders, zips, NIfTI, a targets CSV) to the import API, with
    progress and the answer per upload (static/web/import.js; docs/import.md)."""
    project = get_visible_project(request.user, pk)
    policy.require(request.user, "case.import", project)
    get_token(request)  # the CSRF cookie the uploads send back
    return render(
        request,
        "web/import.html",
        {
            "project": project,
            "api_url": reverse("project-cases", args=[project.pk]),
            "max_upload_bytes": settings.IMPORT_MAX_UPLOAD_BYTES,
            "labels": project.label_names(),
        },
    )


@login_required
@require_POST
def set_queue_order(request: HttpRequest, pk: int) -> HttpResponse:
    """A manager sets how the project's queues are ordered (import or uncertainty)."""
    project = get_visible_project(request.user, pk)
    order = request.POST.get("queue_order")
    if order not in QueueOrder.values:
        messages.error(request, "Choose a queue order.")
        return redirect("web:project", pk=pk)
    update_project(project, actor=request.user, queue_order=order)  # checks "project.change"
    messages.success(request, f"Queues now: {QueueOrder(order).label.lower()}.")
    return redirect("web:project", pk=pk)


@login_required
@require_POST
def assign_cases(request: HttpRequest, pk: int) -> HttpResponse:
    """Assign the selected cases of a project to one annotator (managers only)."""
    project = get_visible_project(request.user, pk)
    policy.require(request.user, "case.assign", project)
    annotator = get_user_model().objects.filter(username=request.POST.get("annotator")).first()
    case_ids = [i for i in map(parse_id, request.POST.getlist("cases")) if i is not None]
    if annotator is None or not case_ids:
        messages.error(request, "Choose an annotator and at least one case.")
        return redirect("web:project", pk=pk)
    done, failed = 0, []
    for case in Case.objects.filter(project=project, pk__in=case_ids):
        try:
            workflow.assign(case, annotator, actor=request.user)
            done += 1
        except DomainError as exc:
            failed.append(f"{case.study_id}: {exc.message}")
    if done:
        messages.success(request, f"Assigned {done} case(s) to {annotator.username}.")
    for problem in failed:
        messages.error(request, problem)
    return redirect(f"{reverse('web:project', args=[pk])}?{request.GET.urlencode()}")


def viewer_mode(user, case: Case) -> str:
    """annotate (who may edit the case, while it is editable), review (who may review it, once
    submitted) or view (read-only): the policy's "case.edit" and "case.review"."""
    if case.status in EDITABLE and selectors.case_allows(user, "case.edit", case):
        return "annotate"
    if case.status == CaseStatus.SUBMITTED and selectors.case_allows(user, "case.review", case):
        return "review"
    return "view"


def _initial_data(request: HttpRequest, case: Case) -> tuple[dict, list]:
    """The case and its targets as the API serves them, inlined in the page so that opening a
    case waits for nothing but the image."""
    context = {"request": request}
    return (
        CaseSerializer(case_details(case.pk), context=context).data,
        TargetSerializer(case_targets(case), many=True, context=context).data,
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
