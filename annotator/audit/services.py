"""Writing audit events. Every service that changes something that matters calls `record`."""

from __future__ import annotations

from typing import Any

from django.db import models

from .models import AuditEvent


def record(
    action: str,
    *,
    actor=None,
    obj: models.Model | None = None,
    project=None,
    actor_label: str = "",
    **data: Any,
) -> AuditEvent:
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    return AuditEvent.objects.create(
        action=action,
        actor=actor,
        actor_label=actor_label,
        project_id=getattr(project, "pk", project),
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        data=data,
    )


def forget_project(project_id: int) -> int:
    """A deleted project's events stay, without the link (the one change the append-only
    trigger allows)."""
    return AuditEvent.objects.filter(project_id=project_id).update(project_id=None)
