"""The dashboard page: charts of /api/v1/projects/{id}/metrics (managers and admins)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render

from annotator.projects.access import has_role, visible_projects
from annotator.projects.models import Role


@login_required
def dashboard(request, pk: int):
    project = get_object_or_404(visible_projects(request.user), pk=pk)
    if not has_role(request.user, project, Role.MANAGER):
        raise PermissionDenied("the dashboard is for the project's managers")
    return render(request, "metrics/dashboard.html", {"project": project})
