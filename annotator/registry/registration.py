"""Registering downloaded or trained weights from a management command: the checkpoint is moved
into the model store and becomes production when asked to, or when its scope has none yet (a
fresh install then serves it at once)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError

from annotator.core.errors import DomainError

from . import selectors, services
from .models import ModelVersion


def register_from_command(
    checkpoint: Path,
    *,
    name: str,
    origin: str,
    config: str,
    metrics: dict,
    reason: str,
    project=None,
    promote: bool = False,
) -> ModelVersion:
    """The registered version, refreshed; a refused checkpoint is a CommandError with the
    domain's message (the command exits with it, no traceback)."""
    try:
        version = services.register(
            checkpoint,
            name=name,
            origin=origin,
            config=config,
            project=project,
            metrics=metrics,
            move=True,
        )
    except DomainError as exc:
        raise CommandError(exc.message) from exc
    if promote or selectors.production_model(project) is None:
        services.promote(version, reason=reason)
    version.refresh_from_db()
    return version


def registered_line(version: ModelVersion) -> str:
    return f"registered {version.name} (sha256 {version.checksum[:12]}…, {version.status})"
