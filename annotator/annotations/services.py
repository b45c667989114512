"""Writes for targets and mask revisions (the case workflow is in workflow.py). Every write by a
person checks the permission policy here, whatever called it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotator.audit.services import record
from annotator.cases import services as case_services
from annotator.cases.models import Case
from annotator.cases.selectors import clean_window, image_header, require_case
from annotator.core.errors import Conflict, DomainError, InvalidInput, StaleParent

from . import events, masks, measure
from .models import MaskRevision, RevisionSource, Target

# ---------------------------------------------------------------- targets

UNCHANGED = object()  # an argument not given (None means clear)


def validate_prompt(
    case: Case, *, label: str, key_index: int, box: list | None, points: list | None
) -> tuple[list[float] | None, list[dict]]:
    image = case.image
    nx, ny, nz = image.shape
    if label not in case.project.label_names():
        raise InvalidInput(
            f"unknown label {label!r}; this project's labels are {case.project.label_names()}"
        )
    if not 0 <= key_index < nz:
        unit = "frame" if image.kind == "video" else "slice"
        raise InvalidInput(f"key {unit} {key_index} is outside 0..{nz - 1}")
    clean_box = None
    if box is not None:
        if not isinstance(box, list | tuple) or len(box) != 4:
            raise InvalidInput("box must be [x0, y0, x1, y1]")
        x0, y0, x1, y1 = (float(v) for v in box)
        if not (0 <= x0 < x1 <= nx and 0 <= y0 < y1 <= ny):
            raise InvalidInput(
                f"box {list(box)} lies outside the image or is empty: it must satisfy "
                f"0 <= x0 < x1 <= {nx} and 0 <= y0 < y1 <= {ny}"
            )
        clean_box = [x0, y0, x1, y1]
    clean_points = []
    for p in points or []:
        try:
            x, y, z = float(p["x"]), float(p["y"]), int(p.get("z", key_index))
            positive = bool(p.get("positive", True))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput('each point needs "x", "y" (and optional "z", "positive")') from exc
        if not (0 <= x < nx and 0 <= y < ny and 0 <= z < nz):
            raise InvalidInput(f"point ({x}, {y}, {z}) is outside the image")
        clean_points.append({"x": x, "y": y, "z": z, "positive": positive})
    return clean_box, clean_points


NAME_MAX, NOTE_MAX = 100, 2000


def clean_name(name: str) -> str:
    name = " ".join(str(name).split())
    if len(name) > NAME_MAX:
        raise InvalidInput(f"a target's name may have at most {NAME_MAX} characters")
    return name


def clean_note(note: str) -> str:
    note = str(note).strip()
    if len(note) > NOTE_MAX:
        raise InvalidInput(f"a note may have at most {NOTE_MAX} characters")
    return note


def _require_editable(case: Case, what: str) -> None:
    """Targets change only while the case is worked on: not while it is in review or accepted
    (the reviewer decides on what was submitted)."""
    if case.status not in case_services.EDITABLE:
        raise Conflict(
            f"case {case.study_id} is {case.status}; its targets cannot be {what} now",
            code="case_locked",
        )


@transaction.atomic
def create_target(
    case: Case,
    *,
    actor,
    label: str,
    key_index: int,
    box=None,
    points=None,
    window=None,
    name: str = "",
    note: str = "",
) -> Target:
    require_case(actor, "case.add_target", case)
    clean_box, clean_points = validate_prompt(
        case, label=label, key_index=key_index, box=box, points=points
    )
    target = Target.objects.create(
        case=case,
        label=label,
        name=clean_name(name),
        note=clean_note(note),
        key_index=key_index,
        box=clean_box,
        points=clean_points,
        window=clean_window(window) if window is not None else None,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    record("target.create", actor=actor, obj=target, project=case.project, label=label)
    return target


@transaction.atomic
def change_target(
    target: Target, *, actor, label=UNCHANGED, name=UNCHANGED, note=UNCHANGED
) -> Target:
    """Relabel (one of the project's labels), rename (free text; empty: "<label> #<n>") or
    write the note to the reviewer. Only what is given changes; the audit keeps old and new."""
    case = target.case
    require_case(actor, "case.change_target", case)
    changes: dict[str, dict] = {}
    if label is not UNCHANGED and label != target.label:
        if label not in case.project.label_names():
            raise InvalidInput(
                f"unknown label {label!r}; this project's labels are {case.project.label_names()}"
            )
        changes["label"] = {"from": target.label, "to": label}
        target.label = label
    if name is not UNCHANGED and clean_name(name) != target.name:
        changes["name"] = {"from": target.name, "to": clean_name(name)}
        target.name = clean_name(name)
    if note is not UNCHANGED and clean_note(note) != target.note:
        changes["note"] = {"from": target.note, "to": clean_note(note)}
        target.note = clean_note(note)
    if not changes:
        return target
    _require_editable(case, "changed")
    target.save(update_fields=list(changes))
    record("target.change", actor=actor, obj=target, project=case.project, changes=changes)
    return target


@transaction.atomic
def delete_target(target: Target, *, actor) -> None:
    """Soft delete: the target leaves the API's lists, the viewer, submission, review and
    rounds; its revisions, reviews and audit history stay. Only while the case is worked on."""
    case = target.case
    require_case(actor, "case.delete_target", case)
    _require_editable(case, "deleted")
    target = Target.objects.select_for_update().filter(pk=target.pk).first()
    if target is None:  # deleted meanwhile
        return
    target.deleted_at, target.deleted_by = timezone.now(), _person(actor)
    target.save(update_fields=["deleted_at", "deleted_by"])
    record(
        "target.delete",
        actor=actor,
        obj=target,
        project=case.project,
        label=target.label,
        name=target.name,
        revisions=target.revisions.count(),
        head=target.head_id,
        reviews=target.reviews.count(),
    )
    events.target_deleted.send(Target, target=target, actor=actor)


def _person(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


@transaction.atomic
def update_prompt(
    target: Target, *, actor, key_index: int, box=None, points=None, window=UNCHANGED
) -> Target:
    """Replace the prompt; ``window`` (a preset, [center, width] or None to clear) only when
    given."""
    require_case(actor, "case.edit", target.case)
    clean_box, clean_points = validate_prompt(
        target.case, label=target.label, key_index=key_index, box=box, points=points
    )
    target.key_index, target.box, target.points = key_index, clean_box, clean_points
    fields = ["key_index", "box", "points"]
    if window is not UNCHANGED:
        target.window = clean_window(window) if window is not None else None
        fields.append("window")
    target.save(update_fields=fields)
    record("target.prompt", actor=actor, obj=target, project=target.case.project)
    return target


# ---------------------------------------------------------------- revisions


@dataclass
class SaveResult:
    revision: MaskRevision
    created: bool  # False when an idempotent retry found the revision already stored


class IdempotencyKeyReused(DomainError):
    """The key of an earlier save sent with another request (mask or parent)."""

    status = 422
    code = "idempotency_key_reused"


IDEMPOTENCY_KEY_MAX = 100  # the column's length


def clean_idempotency_key(key: str | None) -> str | None:
    if not key:
        return None
    if len(key) > IDEMPOTENCY_KEY_MAX or not all("!" <= c <= "~" for c in key):
        raise InvalidInput(
            f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} visible ASCII characters"
        )
    return key


def _existing_for_key(target: Target, key: str | None, author=None) -> MaskRevision | None:
    """The revision stored under `key`: a person's own keys (theirs alone, across projects),
    or with no author the model's."""
    if not key:
        return None
    if getattr(author, "is_authenticated", False):
        mine = MaskRevision.objects.filter(source=RevisionSource.HUMAN, author=author)
    else:
        mine = MaskRevision.objects.filter(source=RevisionSource.MODEL)
    existing = mine.filter(idempotency_key=key).first()
    if existing is not None and existing.target_id != target.pk:
        raise Conflict("this Idempotency-Key was already used for another target")
    return existing


def _same_request(existing: MaskRevision, *, checksum: str, parent_id: int | None) -> None:
    """A retry must be the request it repeats: the same mask (by content) on the same parent."""
    if existing.checksum != checksum or existing.parent_id != parent_id:
        what = "mask" if existing.checksum != checksum else "parent"
        raise IdempotencyKeyReused(
            f"this Idempotency-Key was already used for revision {existing.pk} with a different "
            f"{what}; send a new key for a new save",
            extra={"revision": existing.pk},
        )


def store_revision(
    target: Target,
    mask: masks.DecodedMask,
    *,
    parent_id: int | None,
    source: str,
    author=None,
    model_version=None,
    active_seconds: float | None = None,
    note: str = "",
    idempotency_key: str | None = None,
    key_checked: bool = False,
    flags: list[dict] | None = None,
    uncertainty: float | None = None,
) -> SaveResult:
    """Write the mask file (atomically), then record the revision and move the target's head.

    The head moves only if it still is `parent_id` (compare-and-set), so a stale parent raises
    StaleParent and nothing is kept. The file is written before the database commit and removed
    if the commit does not happen, so a failure leaves the previous revision as it was.
    """
    # (key_checked: the caller has just looked the key up; a race is caught by the unique index)
    existing = None if key_checked else _existing_for_key(target, idempotency_key, author)
    if existing is not None:
        _same_request(existing, checksum=mask.checksum, parent_id=parent_id)
        return SaveResult(existing, created=False)
    if target.head_id != parent_id:
        raise _stale(target, parent_id)
    header_bytes, _, _ = image_header(target.case.image)
    payload = masks.encode_nifti(mask.array, image_header_bytes=header_bytes)
    revision = MaskRevision(
        target=target,
        parent_id=parent_id,
        source=source,
        author=author if getattr(author, "is_authenticated", False) else None,
        model_version=model_version,
        checksum=mask.checksum,
        voxel_count=mask.voxel_count,
        measures=_measures(target, mask.array),
        active_seconds=active_seconds,
        note=note[:500],
        idempotency_key=idempotency_key or None,
        flags=flags or [],
        uncertainty=uncertainty,
    )
    name = revision.file.field.generate_filename(revision, f"{uuid.uuid4().hex}.nii.gz")
    stored_name = default_storage.save(name, ContentFile(payload))
    revision.file.name = stored_name
    try:
        with transaction.atomic():
            revision.save()
            moved = Target.objects.filter(pk=target.pk, head_id=parent_id).update(
                head_id=revision.pk
            )
            if not moved:
                raise _stale(target, parent_id)
            record(
                "revision.create",
                actor=author,
                actor_label=f"model:{model_version.name}" if model_version else "",
                obj=revision,
                project=target.case.project,
                target=target.pk,
                parent=parent_id,
                source=source,
                voxels=mask.voxel_count,
                **({"flags": [f["code"] for f in flags]} if flags else {}),
            )
    except IntegrityError:
        default_storage.delete(stored_name)
        existing = _existing_for_key(target, idempotency_key, author)
        if existing is not None:  # a concurrent retry with the same key won the race
            _same_request(existing, checksum=mask.checksum, parent_id=parent_id)
            return SaveResult(existing, created=False)
        raise
    except BaseException:
        default_storage.delete(stored_name)
        raise
    target.head_id = revision.pk
    return SaveResult(revision, created=True)


def _measures(target: Target, array) -> dict:
    """Volume (not for clips) and the axes on the key slice, stored with the revision."""
    image = target.case.image
    return measure.measure(array, image.spacing, target.key_index, volume=image.kind != "video")


def _stale(target: Target, parent_id: int | None) -> StaleParent:
    current = Target.objects.filter(pk=target.pk).values_list("head_id", flat=True).first()
    return StaleParent(
        f"target {target.pk} has changed since revision {parent_id}: the current revision is "
        f"{current}. Reload it, or save yours again naming {current} as the parent.",
        extra={"current_revision": current},
    )


def save_human_revision(
    target: Target,
    *,
    actor,
    data: bytes,
    parent_id: int | None,
    raw_shape: tuple[int, int, int] | None = None,
    active_seconds: float | None = None,
    note: str = "",
    idempotency_key: str | None = None,
) -> SaveResult:
    case = target.case
    require_case(actor, "case.edit", case)
    if active_seconds is not None and not (0 <= active_seconds <= 24 * 3600):
        raise InvalidInput("active_seconds must be between 0 and 86400")
    idempotency_key = clean_idempotency_key(idempotency_key)
    existing = _existing_for_key(target, idempotency_key, actor)
    if existing is None and case.status not in case_services.EDITABLE:
        raise Conflict(
            f"case {case.study_id} is {case.status}; it can no longer be edited",
            code="case_locked",
        )
    _, affine, shape = image_header(case.image)
    decoded = masks.decode_upload(
        data,
        image_shape_xyz=tuple(case.image.shape),
        image_affine=affine,
        raw_shape_xyz=raw_shape,
        max_bytes=settings.MASK_MAX_UPLOAD_BYTES,
    )
    if existing is not None:  # a retry: answered with what the first request stored
        _same_request(existing, checksum=decoded.checksum, parent_id=parent_id)
        return SaveResult(existing, created=False)
    result = store_revision(
        target,
        decoded,
        parent_id=parent_id,
        source=RevisionSource.HUMAN,
        author=actor,
        active_seconds=active_seconds,
        note=note,
        idempotency_key=idempotency_key,
        key_checked=True,
    )
    if result.created:
        case_services.ensure_in_progress(case, actor=actor)
    return result


def save_model_revision(
    target: Target,
    mask_zyx: np.ndarray,
    *,
    model_version,
    parent_id: int | None,
    idempotency_key: str,
    note: str = "",
    prompt_index: int | None = None,
    prompt_box=UNCHANGED,
    scores=None,
    disagreement: float | None = None,
) -> SaveResult:
    """Store a model's mask with its pre-segmentation checks (``MaskRevision.flags``): the
    prompt that made it (default: the target's key slice and box) and the model's confidence
    per slice (``scores``: {slice: FrameScore}, when the engine gave them; ``disagreement``:
    between the tracker's two directions, where prompts on several slices gave it one), and the
    doubt they add up to (``MaskRevision.uncertainty``, inference.qc.uncertainty)."""
    from inference.qc import assess

    flags, doubt = assess(
        mask_zyx,
        key_index=target.key_index if prompt_index is None else prompt_index,
        box=target.box if prompt_box is UNCHANGED else prompt_box,
        scores=scores,
        is_video=target.case.image.kind == "video",
        disagreement=disagreement,
    )
    return store_revision(
        target,
        masks.summarize(mask_zyx),
        parent_id=parent_id,
        source=RevisionSource.MODEL,
        model_version=model_version,
        note=note,
        idempotency_key=idempotency_key,
        flags=flags,
        uncertainty=doubt,
    )
