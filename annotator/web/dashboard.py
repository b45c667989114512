"""The dashboard page: charts of /api/v1/projects/{id}/metrics (managers and admins)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from annotator.projects import policy
from annotator.projects.selectors import get_visible_project


@login_required
def dashboard(request, pk: int):
    project = get_visible_project(request.user, pk)
    policy.require(request.user, "metrics.view", project)
    return render(request, "metrics/dashboard.html", {"project": project})
