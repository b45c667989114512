"""The permission policy table: roles, the assignee conditions, admins, refusals."""

import pytest
from django.contrib.auth.models import AnonymousUser

from annotator.core.errors import NotAllowed
from annotator.projects import policy
from annotator.projects.models import Role
from tests import factories


@pytest.fixture
def world(db):
    people = {role: factories.user(role) for role in ("manager", "reviewer", "annotator")}
    project = factories.project(**{role: [user] for role, user in people.items()})
    other = factories.project()
    people["admin"] = factories.user("admin", staff=True)
    people["outsider"] = factories.user("outsider")
    return project, other, people


@pytest.mark.parametrize(
    ("who", "action", "assignee", "allowed"),
    [
        ("manager", "case.import", None, True),
        ("reviewer", "case.import", None, False),
        ("annotator", "case.import", None, False),
        ("manager", "case.view", False, True),
        ("reviewer", "case.view", False, True),
        ("annotator", "case.view", False, False),
        ("annotator", "case.view", True, True),
        ("annotator", "case.edit", True, True),
        ("annotator", "case.edit", False, False),
        ("manager", "case.edit", True, False),
        ("reviewer", "case.review", False, True),
        ("reviewer", "case.review", True, False),
        ("annotator", "case.review", False, False),
        ("manager", "case.add_target", False, True),
        ("annotator", "case.add_target", True, True),
        ("annotator", "case.add_target", False, False),
        ("manager", "metrics.view", None, True),
        ("reviewer", "metrics.view", None, False),
        ("manager", "model.manage", None, False),
        ("admin", "model.manage", None, True),
        ("admin", "case.edit", False, True),  # admins pass every condition
        ("admin", "case.review", True, True),
        ("outsider", "project.view", None, False),
        ("outsider", "case.view", True, False),
    ],
)
def test_policy_table(world, who, action, assignee, allowed):
    project, _, people = world
    assert policy.can(people[who], action, project, assignee=assignee) is allowed
    if allowed:
        policy.require(people[who], action, project, assignee=assignee)
    else:
        with pytest.raises(NotAllowed):
            policy.require(people[who], action, project, assignee=assignee)


def test_roles_are_per_project(world):
    project, other, people = world
    assert policy.can(people["manager"], "case.import", project)
    assert not policy.can(people["manager"], "case.import", other)
    assert policy.roles(people["admin"], other) == policy.ALL_ROLES


def test_assignee_is_asked_only_when_a_grant_depends_on_it(world):
    project, _, people = world
    asked = []

    def assignee() -> bool:
        asked.append(1)
        return True

    assert policy.can(people["manager"], "case.view", project, assignee=assignee)
    assert asked == []  # the manager's grant has no condition
    assert policy.can(people["annotator"], "case.view", project, assignee=assignee)
    assert asked == [1]


def test_refusals_say_why(world):
    project, _, people = world
    with pytest.raises(NotAllowed, match="another reviewer"):
        policy.require(people["reviewer"], "case.review", project, assignee=True)
    with pytest.raises(NotAllowed, match="only admins"):
        policy.require(people["manager"], "model.manage", project)


def test_anonymous_and_unknown_actions(world):
    project, _, _ = world
    assert not policy.can(AnonymousUser(), "project.view", project)
    assert not policy.can(None, "project.view", project)
    with pytest.raises(KeyError):
        policy.can(AnonymousUser(), "case.teleport", project)


def test_granted_roles_feed_the_queryset_filters():
    assert policy.granted_roles("case.view") == {Role.MANAGER, Role.REVIEWER}
    assert policy.granted_roles("case.view", assignee=True) == {Role.ANNOTATOR}
    assert policy.granted_roles("case.review", assignee=False) == {Role.REVIEWER}
