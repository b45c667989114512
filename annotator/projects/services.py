"""Writes for projects and memberships; each checks the permission policy first."""

from __future__ import annotations

from django.db import transaction

from annotator.audit.services import record

from . import policy
from .models import Membership, Project


@transaction.atomic
def create_project(*, actor, **fields) -> Project:
    policy.require(actor, "project.create")
    project = Project(**fields)
    project.full_clean()
    project.save()
    record("project.create", actor=actor, obj=project, project=project, slug=project.slug)
    return project


@transaction.atomic
def update_project(project: Project, *, actor, **fields) -> Project:
    policy.require(actor, "project.change", project)
    before = project.queue_order
    for name, value in fields.items():
        setattr(project, name, value)
    project.full_clean()
    project.save()
    # The queue order changes what every annotator does next: the trail keeps from what to what.
    after = project.queue_order
    changed = {"queue_order": [before, after]} if before != after else {}
    record(
        "project.update",
        actor=actor,
        obj=project,
        project=project,
        fields=sorted(fields),
        **changed,
    )
    return project


@transaction.atomic
def add_member(project: Project, user, role: str, *, actor) -> Membership:
    policy.require(actor, "project.add_member", project)
    membership, created = Membership.objects.get_or_create(project=project, user=user, role=role)
    if created:
        record(
            "membership.add",
            actor=actor,
            obj=membership,
            project=project,
            user=user.username,
            role=role,
        )
    return membership


@transaction.atomic
def remove_member(membership: Membership, *, actor) -> None:
    policy.require(actor, "project.remove_member", membership.project)
    record(
        "membership.remove",
        actor=actor,
        obj=membership,
        project=membership.project,
        user=membership.user.username,
        role=membership.role,
    )
    membership.delete()
