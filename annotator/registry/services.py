"""Model registry writes: register checkpoints in the model store, promote, roll back."""

from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotator.audit.services import record
from annotator.core.errors import Conflict, InvalidInput

from . import events
from .models import ModelStatus, ModelVersion


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
    except ValueError as exc:  # an unknown config name
        raise InvalidInput(str(exc)) from exc
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
    version.replaced = previous
    version.save(update_fields=["status", "promoted_at", "replaced"])
    record(
        "model.promote",
        actor=actor,
        obj=version,
        project=version.project,
        reason=reason,
        previous=previous.pk if previous else None,
    )
    transaction.on_commit(lambda: _announce(version, actor))
    return version


@transaction.atomic
def rollback(project=None, *, actor=None) -> ModelVersion:
    """Return production to the version the current one replaced (repeatable, like a stack)."""
    current = (
        ModelVersion.objects.select_for_update()
        .filter(project=project, status=ModelStatus.PRODUCTION)
        .first()
    )
    if current is None:
        raise Conflict("there is no production model to roll back")
    previous = current.replaced
    if previous is None:
        raise Conflict(f"{current.name} replaced no earlier model; nothing to roll back to")
    current.status = ModelStatus.RETIRED
    current.save(update_fields=["status"])
    previous.status = ModelStatus.PRODUCTION
    previous.save(update_fields=["status"])
    record("model.rollback", actor=actor, obj=previous, project=project, replaced=current.pk)
    transaction.on_commit(lambda: _announce(previous, actor))
    return previous


def _announce(version: ModelVersion, actor) -> None:
    """Production changed (committed): subscribers re-segment the cases nobody opened yet."""
    events.production_model_changed.send(ModelVersion, version=version, actor=actor)
