"""Who may do what in a project. Admins (staff) hold every role everywhere."""

from __future__ import annotations

from django.db.models import QuerySet

from annotator.core.errors import NotAllowed

from .models import Membership, Project, Role

ALL_ROLES = frozenset(Role.values)


def roles(user, project: Project | int) -> frozenset[str]:
    if user is None or not user.is_authenticated:
        return frozenset()
    if user.is_staff:
        return ALL_ROLES
    project_id = project if isinstance(project, int) else project.pk
    cache = user.__dict__.setdefault("_role_cache", {})
    if project_id not in cache:
        cache[project_id] = frozenset(
            Membership.objects.filter(project_id=project_id, user=user).values_list(
                "role", flat=True
            )
        )
    return cache[project_id]


def has_role(user, project, *wanted: str) -> bool:
    return bool(roles(user, project) & set(wanted))


def require_role(user, project, *wanted: str) -> None:
    if not has_role(user, project, *wanted):
        raise NotAllowed(f"this needs the {' or '.join(wanted)} role in project {project}")


def visible_projects(user) -> QuerySet[Project]:
    if user.is_staff:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user).distinct()
