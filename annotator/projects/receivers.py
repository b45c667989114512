"""What the projects app does on its own models' signals."""

from __future__ import annotations

from annotator.audit.services import forget_project


def forget_deleted_project(sender, instance, **kwargs) -> None:
    """The audit trail keeps a deleted project's events and drops only their project id (what
    on_delete=SET_NULL did when the trail held a relation to projects)."""
    forget_project(instance.pk)
