"""Reads for the model registry."""

from __future__ import annotations

from .models import ModelStatus, ModelVersion


def production_model(project) -> ModelVersion | None:
    """The project's production version, else the global default, else None."""
    own = ModelVersion.objects.filter(project=project, status=ModelStatus.PRODUCTION).first()
    if own is not None:
        return own
    return ModelVersion.objects.filter(project__isnull=True, status=ModelStatus.PRODUCTION).first()
