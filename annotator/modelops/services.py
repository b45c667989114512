"""Model registry writes: register checkpoints in the model store, promote, roll back."""

from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotator.audit.services import record
from annotator.core.errors import Conflict, InvalidInput

from .models import ModelOrigin, ModelStatus, ModelVersion


def model_path(version: ModelVersion) -> Path:
    return Path(settings.MODEL_STORE) / version.file


def register(
    source: Path,
    *,
    name: str,
    origin: str,
    config: str,
    project=None,
    parent: ModelVersion | None = None,
    metrics: dict | None = None,
    round_number: int | None = None,
    actor=None,
    move: bool = False,
) -> ModelVersion:
    """Check that `source` loads strictly with `config`, store it by checksum, register it as a
    candidate. A checkpoint already registered (same checksum and project) is returned as is.
    move=True moves the file into the store instead of copying it."""
    from inference.checkpoint import CheckpointError, load_checkpoint

    source = Path(source)
    try:
        loaded = load_checkpoint(source, config, device="cpu")
    except CheckpointError as exc:
        raise InvalidInput(f"{source.name} is not a usable {config} checkpoint: {exc}") from exc
    existing = ModelVersion.objects.filter(checksum=loaded.sha256, project=project).first()
    if existing is not None:
        return existing
    store = Path(settings.MODEL_STORE)
    relative = Path(loaded.sha256[:2]) / f"{loaded.sha256}.pt"
    destination = store / relative
    if source.resolve() != destination.resolve():
        destination.parent.mkdir(parents=True, exist_ok=True)
        tmp = destination.with_suffix(".part")
        if move:
            shutil.move(source, tmp)
        else:
            shutil.copyfile(source, tmp)
        tmp.replace(destination)
    with transaction.atomic():
        version = ModelVersion.objects.create(
            name=name,
            origin=origin,
            config=config,
            checksum=loaded.sha256,
            file=str(relative),
            project=project,
            parent=parent,
            metrics=metrics or {},
            round_number=round_number,
        )
        record(
            "model.register",
            actor=actor,
            obj=version,
            project=project,
            name=name,
            origin=origin,
            checksum=loaded.sha256,
        )
    return version


@transaction.atomic
def promote(version: ModelVersion, *, actor=None, reason: str = "") -> ModelVersion:
    """Make `version` production for its scope (project or global); the previous production
    version is retired. Audited."""
    version = ModelVersion.objects.select_for_update().get(pk=version.pk)
    if version.status == ModelStatus.PRODUCTION:
        return version
    previous = (
        ModelVersion.objects.select_for_update()
        .filter(project=version.project, status=ModelStatus.PRODUCTION)
        .first()
    )
    if previous is not None:
        previous.status = ModelStatus.RETIRED
        previous.save(update_fields=["status"])
    version.status = ModelStatus.PRODUCTION
    version.promoted_at = timezone.now()
    version.save(update_fields=["status", "promoted_at"])
    record(
        "model.promote",
        actor=actor,
        obj=version,
        project=version.project,
        reason=reason,
        previous=previous.pk if previous else None,
    )
    return version


@transaction.atomic
def rollback(project=None, *, actor=None) -> ModelVersion:
    """Return production to the version that was production before the current one."""
    current = ModelVersion.objects.filter(project=project, status=ModelStatus.PRODUCTION).first()
    if current is None:
        raise Conflict("there is no production model to roll back")
    previous = (
        ModelVersion.objects.filter(
            project=project, status=ModelStatus.RETIRED, promoted_at__isnull=False
        )
        .exclude(pk=current.pk)
        .order_by("-promoted_at")
        .first()
    )
    if previous is None:
        raise Conflict("no earlier production model to roll back to")
    current.status = ModelStatus.RETIRED
    current.save(update_fields=["status"])
    previous.status = ModelStatus.PRODUCTION
    previous.promoted_at = timezone.now()
    previous.save(update_fields=["status", "promoted_at"])
    record(
        "model.rollback",
        actor=actor,
        obj=previous,
        project=project,
        replaced=current.pk,
    )
    return previous


__all__ = ["ModelOrigin", "model_path", "promote", "register", "rollback"]
