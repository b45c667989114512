"""Reads for the model registry."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from annotator.projects import policy

from .models import ModelStatus, ModelVersion


def production_model(project) -> ModelVersion | None:
    """The project's production version, else the global default, else None."""
    own = ModelVersion.objects.filter(project=project, status=ModelStatus.PRODUCTION).first()
    if own is not None:
        return own
    return ModelVersion.objects.filter(project__isnull=True, status=ModelStatus.PRODUCTION).first()


def visible_models(user) -> QuerySet[ModelVersion]:
    """Global default models and those of the user's projects."""
    return ModelVersion.objects.filter(
        Q(project__isnull=True) | Q(project__in=policy.visible_projects(user))
    ).select_related("project")
