"""Registering downloaded or trained weights from a management command: the checkpoint is moved
into the model store and becomes production when asked to, or when its scope has none yet (a
fresh install then serves it at once) - but only if it clears the quality floor and has no other
promotion problem (registry/quality.py), unless the operator gives a written override. A version
held back stays a candidate and the command says why."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError

from annotator.core.errors import DomainError

from . import quality, selectors, services
from .models import ModelStatus, ModelVersion


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
    override: str = "",
    kind: str = "",
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
            kind=kind,
        )
    except DomainError as exc:
        raise CommandError(exc.message) from exc
    # A kind's cases already served by a version for every kind keep it unless asked.
    wanted = promote or selectors.production_model(project, kind) is None
    if wanted and (override.strip() or not quality.promotion_problems(version)):
        services.promote(version, reason=reason, override=override)
    version.refresh_from_db()
    return version


def registered_line(version: ModelVersion) -> str:
    """What the command prints: the version, its status and, for a candidate, what keeps it
    from production automatically."""
    line = f"registered {version.name} (sha256 {version.checksum[:12]}…, {version.status})"
    if version.status == ModelStatus.CANDIDATE:
        problems = quality.promotion_problems(version)
        if problems:
            line += (
                "; it stays a candidate: " + "; ".join(problems) + ". To make it production "
                'anyway, rerun with --promote --override "<reason>" or promote it on the models '
                "page with a reason"
            )
    return line
