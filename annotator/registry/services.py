"""Model registry writes: register checkpoints in the model store, promote, roll back."""

from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotator.audit.services import record
from annotator.core.errors import Conflict, InvalidInput

from . import events, quality
from .models import ModelStatus, ModelVersion, QualityFloor


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
    kind: str = "",
) -> ModelVersion:
    """Check that `source` loads strictly with `config`, store it by checksum, register it as a
    candidate. A checkpoint already registered (same checksum, project and kind) is returned as
    is.
    move=True moves the file into the store instead of copying it."""
    from inference.checkpoint import CheckpointError, load_checkpoint

    source = Path(source)
    try:
        loaded = load_checkpoint(source, config, device="cpu")
    except CheckpointError as exc:
        raise InvalidInput(f"{source.name} is not a usable {config} checkpoint: {exc}") from exc
    except ValueError as exc:  # an unknown config name
        raise InvalidInput(str(exc)) from exc
    existing = ModelVersion.objects.filter(
        checksum=loaded.sha256, project=project, kind=kind
    ).first()
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
            kind=kind,
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
def promote(
    version: ModelVersion, *, actor=None, reason: str = "", override: str = ""
) -> ModelVersion:
    """Make `version` production for its scope (project or global, and kind of image); the
    previous production version of that scope is retired. Audited. A version with promotion
    problems (a failed round gate, held-out Dice below the quality floor or none at all) needs
    `override`, a written reason, which is kept on the version and in the audit trail; without
    one this is a Conflict listing them."""
    version = ModelVersion.objects.select_for_update().get(pk=version.pk)
    if version.status == ModelStatus.PRODUCTION:
        return version
    problems = quality.promotion_problems(version)
    override = (override or "").strip()
    if problems and not override:
        raise Conflict(
            f"{version.name} needs an override with a written reason to become production: "
            + "; ".join(problems),
            code="override_required",
            extra={"problems": problems},
        )
    previous = (
        ModelVersion.objects.select_for_update()
        .filter(project=version.project, kind=version.kind, status=ModelStatus.PRODUCTION)
        .first()
    )
    if previous is not None:
        previous.status = ModelStatus.RETIRED
        previous.save(update_fields=["status"])
    version.status = ModelStatus.PRODUCTION
    version.promoted_at = timezone.now()
    version.replaced = previous
    version.override = {}
    if problems:
        version.override = {
            "reason": override[:1000],
            "problems": problems,
            "by": getattr(actor, "username", "") or "",
            "at": version.promoted_at.isoformat(),
        }
    version.save(update_fields=["status", "promoted_at", "replaced", "override"])
    record(
        "model.promote",
        actor=actor,
        obj=version,
        project=version.project,
        reason=reason,
        previous=previous.pk if previous else None,
        override=override[:1000] if problems else "",
        problems=problems,
    )
    transaction.on_commit(lambda: _announce(version, actor))
    return version


@transaction.atomic
def rollback(project=None, *, actor=None, kind: str = "") -> ModelVersion:
    """Return production of the scope (project or global, and kind of image) to the version the
    current one replaced (repeatable, like a stack)."""
    current = (
        ModelVersion.objects.select_for_update()
        .filter(project=project, kind=kind, status=ModelStatus.PRODUCTION)
        .first()
    )
    if current is None:
        what = f" for {quality.KIND_NAMES.get(kind, kind)}" if kind else ""
        raise Conflict(f"there is no production model{what} to roll back")
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


def set_quality_floor(project, floors: dict, *, actor=None) -> dict[str, float]:
    """Change some of a project's floors on held-out Dice ({"ct": 0.6, ...}, each in [0, 1]);
    the others keep theirs. Audited. Returns every kind's floor."""
    unknown = set(floors) - set(quality.KINDS)
    if unknown:
        raise InvalidInput(
            f"unknown kind(s) {sorted(unknown)} for the quality floor; kinds: "
            + ", ".join(quality.KINDS),
            code="bad_floor",
        )
    clean = {}
    for kind, value in floors.items():
        try:
            value = float(value)
        except (TypeError, ValueError):
            value = -1.0
        if not 0.0 <= value <= 1.0:
            raise InvalidInput(f"the {kind} floor must be a Dice between 0 and 1", code="bad_floor")
        clean[kind] = value
    with transaction.atomic():
        row, _ = QualityFloor.objects.select_for_update().get_or_create(project=project)
        row.dice = {**row.dice, **clean}
        row.save(update_fields=["dice"])
        record("model.floor", actor=actor, project=project, floors=clean)
    return quality.floors_for(project)
