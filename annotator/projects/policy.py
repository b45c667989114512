"""The permission policy: per resource, which roles may take each action.

Every check in the API, the pages, the websocket consumers and the services reads this one
table. Roles are per project (annotator, reviewer, manager); admins (staff) hold every role in
every project and pass every condition. Some actions also depend on whether the user is the
case's assigned annotator: the caller says so (``assignee=``, a bool or a callable evaluated
only when a grant needs it), since assignments live in a higher layer than this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import QuerySet

from annotator.core.errors import NotAllowed

from .models import Membership, Project, Role

ALL_ROLES = frozenset(Role.values)


@dataclass(frozen=True)
class Grant:
    roles: frozenset[str]
    assignee: bool | None = None  # True: only the assignee; False: never the assignee


@dataclass(frozen=True)
class Permission:
    grants: tuple[Grant, ...]
    message: str  # when no role of a grant is held
    assignee_message: str = ""  # when a role is held but the assignee condition fails


M, R, A = Role.MANAGER, Role.REVIEWER, Role.ANNOTATOR
MEMBERS = Grant(ALL_ROLES)
MANAGERS = Grant(frozenset({M}))
ASSIGNED_ANNOTATOR = Grant(frozenset({A}), assignee=True)

POLICY: dict[str, dict[str, Permission]] = {
    "project": {
        "view": Permission((MEMBERS,), "you are not a member of this project"),
        "create": Permission((), "only admins create projects"),
        "change": Permission((MANAGERS,), "only the project's managers change it"),
        "manage": Permission((MANAGERS,), "only the project's managers see this page"),
        "add_member": Permission((MANAGERS,), "only the project's managers add members"),
        "remove_member": Permission((MANAGERS,), "only the project's managers remove members"),
    },
    "case": {
        "view": Permission(
            (Grant(frozenset({M, R})), ASSIGNED_ANNOTATOR),
            "you may not see this case",
        ),
        "import": Permission((MANAGERS,), "only the project's managers import cases"),
        "assign": Permission((MANAGERS,), "only the project's managers assign cases"),
        "reopen": Permission((MANAGERS,), "only the project's managers reopen cases"),
        "edit": Permission(
            (ASSIGNED_ANNOTATOR,),
            "only the annotator assigned to this case can change it",
            "only the annotator assigned to this case can change it",
        ),
        "review": Permission(
            (Grant(frozenset({R}), assignee=False),),
            "this needs the reviewer role in the project",
            "you annotated this case; another reviewer must review it",
        ),
        # Targets: a manager, or whoever may edit the case.
        "add_target": Permission(
            (MANAGERS, ASSIGNED_ANNOTATOR),
            "only the annotator assigned to this case can change it",
            "only the annotator assigned to this case can change it",
        ),
        # Rename, relabel, the note to the reviewer.
        "change_target": Permission(
            (MANAGERS, ASSIGNED_ANNOTATOR),
            "only the annotator assigned to this case can change its targets",
            "only the annotator assigned to this case can change its targets",
        ),
        "delete_target": Permission(
            (MANAGERS, ASSIGNED_ANNOTATOR),
            "only the annotator assigned to this case can delete its targets",
            "only the annotator assigned to this case can delete its targets",
        ),
    },
    "model": {
        "manage": Permission((), "only admins manage models and training rounds"),
    },
    "metrics": {
        "view": Permission((MANAGERS,), "only the project's managers see its metrics"),
        "export": Permission((MANAGERS,), "only the project's managers export"),
    },
    "audit": {
        "view": Permission((), "only admins read the audit trail"),
    },
    "dicomweb": {
        "manage": Permission((), "only admins register DICOMweb servers and link them to projects"),
        "use": Permission(
            (MANAGERS,),
            "only the project's managers search, import from and send to its DICOMweb servers",
        ),
    },
}


def permission(action: str) -> Permission:
    """The policy entry of ``"resource.action"``; a KeyError names an action nobody defined."""
    resource, _, name = action.partition(".")
    return POLICY[resource][name]


def roles(user, project: Project | int) -> frozenset[str]:
    """The roles ``user`` holds in ``project`` (every role for admins), cached on the user."""
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


def prime_roles(user, project_ids) -> None:
    """Load the user's roles in these projects with one query (pages that list projects)."""
    if user is None or not user.is_authenticated or user.is_staff:
        return
    cache = user.__dict__.setdefault("_role_cache", {})
    wanted = [pk for pk in project_ids if pk not in cache]
    found: dict[int, set[str]] = {pk: set() for pk in wanted}
    for pk, role in Membership.objects.filter(project_id__in=wanted, user=user).values_list(
        "project_id", "role"
    ):
        found[pk].add(role)
    cache.update({pk: frozenset(held) for pk, held in found.items()})


Assignee = bool | Callable[[], bool] | None


def _check(user, action: str, project, assignee: Assignee) -> str | None:
    """None when allowed, else the refusal's message."""
    if user is None or not user.is_authenticated:
        return permission(action).message
    if user.is_staff:
        return None
    rule = permission(action)
    held = roles(user, project) if project is not None else frozenset()
    role_fits = False
    known: bool | None = None
    for grant in rule.grants:
        if not held & grant.roles:
            continue
        role_fits = True
        if grant.assignee is None:
            return None
        if known is None:
            known = bool(assignee() if callable(assignee) else assignee)
        if known == grant.assignee:
            return None
    return (rule.assignee_message or rule.message) if role_fits else rule.message


def can(user, action: str, project=None, *, assignee: Assignee = None) -> bool:
    """Whether ``user`` may take ``action`` (e.g. ``"case.edit"``) in ``project``."""
    return _check(user, action, project, assignee) is None


def require(user, action: str, project=None, *, assignee: Assignee = None) -> None:
    """Raise NotAllowed (403) with the policy's message unless ``can(...)``."""
    refusal = _check(user, action, project, assignee)
    if refusal is not None:
        raise NotAllowed(refusal)


def granted_roles(action: str, *, assignee: bool | None = None) -> frozenset[str]:
    """The roles whose grants for ``action`` carry this assignee condition: what a queryset
    filter needs (e.g. the roles that see every case of a project)."""
    found: set[str] = set()
    for grant in permission(action).grants:
        if grant.assignee is assignee:
            found |= grant.roles
    return frozenset(found)


def visible_projects(user) -> QuerySet[Project]:
    """Projects ``user`` may see (policy "project.view"): where they hold a role that grants it;
    all for admins."""
    if user.is_staff:
        return Project.objects.all()
    return Project.objects.filter(
        memberships__user=user, memberships__role__in=granted_roles("project.view")
    ).distinct()
