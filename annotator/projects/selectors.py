"""Reads for projects."""

from __future__ import annotations

from django.shortcuts import get_object_or_404

from . import policy
from .models import Project


def get_visible_project(user, pk) -> Project:
    """The project, or 404 when it does not exist or ``user`` is not a member."""
    return get_object_or_404(policy.visible_projects(user), pk=pk)
