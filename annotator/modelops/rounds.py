"""Fine-tuning rounds: snapshot accepted masks → train from production → evaluate → gate.

The worker side (`run_round`) is idempotent and resumable: training checkpoints into the round's
run directory, so a redelivered task (its worker died) continues from the last checkpoint, and a
finished phase is never redone.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from annotator.annotations import masks
from annotator.annotations.models import MaskRevision, Target
from annotator.audit.services import record
from annotator.cases.models import CaseStatus
from annotator.cases.selectors import load_volume
from annotator.core.errors import Conflict, InvalidInput, ServiceUnavailable

from . import progress, services
from .models import (
    ACTIVE_ROUND_STATUSES,
    ModelOrigin,
    ModelVersion,
    RoundPolicy,
    RoundStatus,
    RoundTrigger,
    Snapshot,
    SnapshotEntry,
    Split,
    TrainingRound,
)
from .selectors import production_model

log = logging.getLogger(__name__)
PROGRESS_INTERVAL_S = 1.0
RECIPE_LR = 5e-5  # MedSAM2: 5e-5, and 3e-5 for the image encoder
ENCODER_LR_RATIO = 0.6
LR_RANGE = (1e-7, 1e-2)  # accepted per-round learning rates (API, page)


def policy_for(project) -> RoundPolicy:
    policy, _ = RoundPolicy.objects.get_or_create(project=project)
    return policy


# ---------------------------------------------------------------- snapshot


def accepted_heads(project):
    """The accepted mask of every target of the project's accepted cases."""
    return (
        Target.objects.filter(case__project=project, case__status=CaseStatus.ACCEPTED)
        .exclude(head__isnull=True)
        .select_related("head", "case")
        .order_by("case_id", "id")
    )


def case_split(project_id: int, case_id: int, heldout_fraction: float) -> str:
    """Stable train/held-out assignment of a case: the same case is always on the same side."""
    digest = hashlib.sha256(f"split:{project_id}:{case_id}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    return Split.HELDOUT if position < heldout_fraction else Split.TRAIN


def _splits(project, case_ids: list[int], fraction: float) -> dict[int, str]:
    """A case keeps the side it had in earlier snapshots; a new case gets its hashed side. If
    that leaves one side empty, the new case nearest the cut changes side."""
    earlier = dict(
        SnapshotEntry.objects.filter(snapshot__project=project, case_id__in=case_ids)
        .order_by("snapshot__created_at", "snapshot_id")
        .values_list("case_id", "split")
    )  # later snapshots overwrite earlier ones in the dict
    splits = {cid: earlier.get(cid) or case_split(project.pk, cid, fraction) for cid in case_ids}
    fresh = [cid for cid in case_ids if cid not in earlier] or case_ids

    def position(cid: int) -> int:
        digest = hashlib.sha256(f"split:{project.pk}:{cid}".encode()).digest()
        return int.from_bytes(digest[:8], "big")

    if len(case_ids) >= 2 and Split.HELDOUT not in splits.values():
        splits[min(fresh, key=position)] = Split.HELDOUT
    if case_ids and Split.TRAIN not in splits.values():
        splits[max(fresh, key=position)] = Split.TRAIN
    return splits


@transaction.atomic
def take_snapshot(project) -> Snapshot:
    policy = policy_for(project)
    heads = list(accepted_heads(project))
    case_ids = sorted({t.case_id for t in heads})
    if len(case_ids) < 2:
        raise InvalidInput(
            "a round needs accepted masks from at least 2 cases (one to train on, one to "
            f"evaluate on); the project has {len(case_ids)}",
            code="not_enough_data",
        )
    splits = _splits(project, case_ids, policy.heldout_fraction)
    lines = sorted(f"{t.head_id}:{t.head.checksum}:{splits[t.case_id]}" for t in heads)
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    counts = {s: sum(1 for t in heads if splits[t.case_id] == s) for s in Split.values}
    snapshot = Snapshot.objects.create(
        project=project,
        sha256=digest,
        train_count=counts[Split.TRAIN],
        heldout_count=counts[Split.HELDOUT],
    )
    SnapshotEntry.objects.bulk_create(
        SnapshotEntry(
            snapshot=snapshot,
            revision_id=t.head_id,
            target_id=t.pk,
            case_id=t.case_id,
            split=splits[t.case_id],
        )
        for t in heads
    )
    return snapshot


def new_accepted_since_last_round(project) -> int:
    last = TrainingRound.objects.filter(project=project).order_by("-number").first()
    heads = accepted_heads(project).values_list("head_id", flat=True)
    if last is None:
        return heads.count()
    seen = last.snapshot.entries.values_list("revision_id", flat=True)
    return heads.exclude(head_id__in=seen).count()


# ---------------------------------------------------------------- starting and stopping


def start_round(
    project,
    *,
    actor=None,
    trigger: str = RoundTrigger.MANUAL,
    steps: int | None = None,
    learning_rate: float | None = None,
) -> TrainingRound:
    """Snapshot the accepted masks and queue training. Conflict if a round already runs."""
    if learning_rate is not None and not LR_RANGE[0] <= learning_rate <= LR_RANGE[1]:
        raise InvalidInput(
            "the learning rate must be between 1e-7 and 1e-2",
            code="bad_learning_rate",
        )
    base = production_model(project)
    if base is None:
        raise Conflict("there is no production model to fine-tune", code="no_model")
    if TrainingRound.objects.filter(project=project, status__in=ACTIVE_ROUND_STATUSES).exists():
        raise Conflict("a round is already running for this project", code="round_running")
    policy = policy_for(project)
    try:
        with transaction.atomic():
            snapshot = take_snapshot(project)
            number = (
                TrainingRound.objects.filter(project=project).aggregate(n=Max("number"))["n"] or 0
            ) + 1
            round_ = TrainingRound.objects.create(
                project=project,
                number=number,
                trigger=trigger,
                snapshot=snapshot,
                base_model=base,
                config={
                    "steps": steps or policy.steps,
                    "model_config": base.config,
                    "learning_rate": learning_rate or RECIPE_LR,
                },
                started_by=actor if getattr(actor, "is_authenticated", False) else None,
                progress={"phase": "queued"},
            )
            record(
                "round.start",
                actor=actor,
                actor_label=trigger if actor is None else "",
                obj=round_,
                project=project,
                number=number,
                snapshot=snapshot.sha256,
            )
            transaction.on_commit(lambda: _enqueue(round_))
    except IntegrityError as exc:  # the one-active-round constraint: a concurrent start won
        raise Conflict("a round is already running for this project", code="round_running") from exc
    return round_


def _enqueue(round_: TrainingRound) -> None:
    from .tasks import train_round

    try:
        result = train_round.delay(round_.pk)
    except Exception as exc:  # the broker refused it: fail visibly, nothing left "queued"
        _fail(round_, "the task queue was unavailable; start the round again")
        raise ServiceUnavailable(f"the task queue is unavailable ({type(exc).__name__})") from exc
    TrainingRound.objects.filter(pk=round_.pk, task_id="").update(task_id=result.id or "")


def cancel_round(round_: TrainingRound, *, actor) -> TrainingRound:
    if round_.status not in ACTIVE_ROUND_STATUSES:
        raise Conflict(f"round {round_.number} is {round_.status}; nothing to cancel")
    TrainingRound.objects.filter(pk=round_.pk).update(cancel_requested=True)
    if round_.status == RoundStatus.QUEUED:
        _set(round_, status=RoundStatus.CANCELLED, message="cancelled before it started",
             finished_at=timezone.now())  # fmt: skip
    record("round.cancel", actor=actor, obj=round_, project=round_.project)
    round_.refresh_from_db()
    return round_


def _set(round_: TrainingRound, **fields) -> None:
    for name, value in fields.items():
        setattr(round_, name, value)
    round_.save(update_fields=[*fields, "updated_at"])
    progress.publish_round(round_)


# ---------------------------------------------------------------- the worker side


@dataclass
class _Example:
    image: np.ndarray
    mask: np.ndarray
    modality: str
    kind: str
    label: str
    target: Target
    spacing_zyx: tuple[float, float, float]


def _load_mask(revision: MaskRevision) -> np.ndarray:
    with default_storage.open(revision.file.name, "rb") as fh:
        return masks.decode_stored(fh.read())


def _examples(snapshot: Snapshot, split: str) -> list[_Example]:
    entries = snapshot.entries.filter(split=split).select_related(
        "revision", "target", "case__image"
    )
    examples = []
    for entry in entries:
        image = entry.case.image
        sx, sy, sz = image.spacing
        examples.append(
            _Example(
                image=load_volume(image),
                mask=_load_mask(entry.revision),
                modality=image.modality,
                kind=image.kind,
                label=entry.target.label,
                target=entry.target,
                spacing_zyx=(sz, sy, sx),
            )
        )
    return examples


def _train_items(examples: list[_Example], clip_len: int):
    """Training items cropped along z to the object (± a clip), so memory stays small."""
    from inference.train import TrainItem

    items = []
    for ex in examples:
        z = np.flatnonzero(ex.mask.reshape(ex.mask.shape[0], -1).any(axis=1))
        if z.size == 0:
            continue  # an accepted empty mask teaches nothing about the object's shape
        lo, hi = max(0, z[0] - clip_len), min(ex.mask.shape[0], z[-1] + clip_len + 1)
        items.append(
            TrainItem(
                image=ex.image[lo:hi],
                mask=ex.mask[lo:hi],
                modality=ex.modality,
                label=ex.label,
                is_video=ex.kind == "video",
            )
        )
    return items


def run_dir(round_: TrainingRound) -> Path:
    return Path(settings.MODEL_STORE) / "rounds" / f"{round_.project_id}-{round_.number}"


def run_round(round_id: int, *, task_id: str = "") -> TrainingRound:
    from inference.train import TrainConfig, TrainingError, train

    round_ = TrainingRound.objects.select_related("project", "base_model", "snapshot").get(
        pk=round_id
    )
    if round_.status not in ACTIVE_ROUND_STATUSES:
        return round_
    if round_.cancel_requested:
        _set(round_, status=RoundStatus.CANCELLED, finished_at=timezone.now(), message="cancelled")
        return round_
    _set(
        round_,
        attempts=round_.attempts + 1,
        task_id=task_id or round_.task_id,
        started_at=round_.started_at or timezone.now(),
    )
    if round_.candidate_id is None:
        _set(round_, status=RoundStatus.TRAINING, message="loading the training data")
        examples = _examples(round_.snapshot, Split.TRAIN)
        lr = float(round_.config.get("learning_rate", RECIPE_LR))
        config = TrainConfig(
            model_config=round_.base_model.config,
            steps=int(round_.config["steps"]),
            lr=lr,
            encoder_lr=lr * ENCODER_LR_RATIO,
            device=_device(),
            seed=round_.number,
            checkpoint_every=max(1, min(50, int(round_.config["steps"]) // 10)),
        )
        items = _train_items(examples, config.clip_len)
        del examples
        if not items:
            return _fail(round_, "the snapshot has no non-empty training mask")
        reporter = _TrainReporter(round_)
        try:
            result = train(
                items,
                config,
                run_dir(round_),
                init_checkpoint=services.model_path(round_.base_model),
                progress=reporter,
                should_stop=lambda: _cancel_requested(round_.pk),
            )
        except (TrainingError, ValueError) as exc:
            return _fail(round_, f"training failed: {exc}")
        if result.status == "cancelled":
            _set(round_, status=RoundStatus.CANCELLED, finished_at=timezone.now(),
                 message=f"cancelled at step {result.step}/{result.total_steps}")  # fmt: skip
            return round_
        candidate = services.register(
            result.model_path,
            name=f"{round_.project.slug} round {round_.number}",
            origin=ModelOrigin.ROUND,
            config=round_.base_model.config,
            project=round_.project,
            parent=round_.base_model,
            round_number=round_.number,
            metrics={"final_loss": result.final_loss, "steps": result.step},
        )
        round_.config = {
            **round_.config,
            "trained_steps": result.step,
            "resumed_from": result.resumed_from,  # > 0: a lost worker's run was continued
        }
        _set(round_, candidate=candidate, config=round_.config)
    _set(round_, status=RoundStatus.EVALUATING, message="evaluating on held-out cases",
         progress={**round_.progress, "phase": "evaluating"})  # fmt: skip
    metrics = evaluate_round(round_)
    candidate = round_.candidate
    candidate.metrics = {**candidate.metrics, "heldout": metrics["candidate"]["summary"]}
    candidate.save(update_fields=["metrics"])
    _set(round_, metrics=metrics, status=RoundStatus.CANDIDATE, finished_at=timezone.now(),
         message="evaluated; waiting for a promotion decision")  # fmt: skip
    policy = policy_for(round_.project)
    passed, reason = gate(metrics, policy.promote_margin)
    round_.metrics = {**metrics, "gate": {"passed": passed, "reason": reason}}
    _set(round_, metrics=round_.metrics)
    if policy.auto_promote and passed:
        promote_round(round_, actor=None, reason=f"auto: {reason}")
    return round_


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _cancel_requested(round_id: int) -> bool:
    return TrainingRound.objects.filter(pk=round_id, cancel_requested=True).exists()


def _fail(round_: TrainingRound, message: str) -> TrainingRound:
    _set(round_, status=RoundStatus.FAILED, message=message[:500], finished_at=timezone.now())
    record("round.failed", obj=round_, project=round_.project, message=message[:200])
    return round_


class _TrainReporter:
    def __init__(self, round_: TrainingRound):
        self.round = round_
        self.last = 0.0

    def __call__(self, step: int, total: int, loss: float, eta: float) -> None:
        now = time.monotonic()
        if step < total and now - self.last < PROGRESS_INTERVAL_S:
            return
        self.last = now
        self.round.progress = {
            "phase": "training",
            "step": step,
            "total": total,
            "loss": round(float(loss), 5),
            "eta_s": round(float(eta), 1),
        }
        self.round.message = f"training step {step}/{total}"
        _set(self.round, progress=self.round.progress, message=self.round.message)


def fail_round(round_id: int, message: str) -> None:
    round_ = TrainingRound.objects.filter(pk=round_id).first()
    if round_ is not None and round_.status in ACTIVE_ROUND_STATUSES:
        _fail(round_, message)


# ---------------------------------------------------------------- evaluation and the gate


def _prompts_for(target: Target, truth: np.ndarray):
    """The target's own prompt; a target without one gets the box of its accepted mask on the
    mask's middle slice (as MedSAM2's evaluation does)."""
    from inference.engine import Prompt

    if target.box:
        return [Prompt(index=target.key_index, box=tuple(target.box))]
    z = np.flatnonzero(truth.reshape(truth.shape[0], -1).any(axis=1))
    if z.size == 0:
        return None
    key = int(z[len(z) // 2])
    ys, xs = np.nonzero(truth[key])
    return [Prompt(index=key, box=(xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))]


def evaluate_models(
    versions: dict[str, ModelVersion], examples: list[_Example], tolerance_mm: float
) -> dict:
    """Segment every held-out example with each model from the same prompts; Dice and NSD per
    target and per label."""
    from inference.cache import device_lock, get_model
    from inference.engine import SegmentOptions, segment_clip, segment_volume
    from inference.metrics import dice, normalized_surface_distance

    results: dict[str, dict] = {}
    for name, version in versions.items():
        loaded = get_model(services.model_path(version), config=version.config)
        per_target = []
        for ex in examples:
            prompts = _prompts_for(ex.target, ex.mask)
            if prompts is None:
                continue
            with device_lock(loaded.device):
                if ex.kind == "video":
                    options = SegmentOptions(early_stop_patience=None, largest_component=False)
                    pred = segment_clip(loaded, ex.image, prompts, options)
                else:
                    pred = segment_volume(loaded, ex.image, ex.modality, prompts)
            per_target.append(
                {
                    "target": ex.target.pk,
                    "label": ex.label,
                    "dice": round(float(dice(pred, ex.mask)), 4),
                    "nsd": round(
                        float(
                            normalized_surface_distance(pred, ex.mask, ex.spacing_zyx, tolerance_mm)
                        ),
                        4,
                    ),  # fmt: skip
                }
            )
        results[name] = {"model": version.pk, "targets": per_target, **_summaries(per_target)}
    return results


def _summaries(per_target: list[dict]) -> dict:
    def mean(rows, key):
        return round(float(np.mean([r[key] for r in rows])), 4) if rows else None

    labels = sorted({r["label"] for r in per_target})
    return {
        "summary": {
            "n": len(per_target),
            "dice": mean(per_target, "dice"),
            "nsd": mean(per_target, "nsd"),
        },
        "labels": {
            label: {
                "n": sum(1 for r in per_target if r["label"] == label),
                "dice": mean([r for r in per_target if r["label"] == label], "dice"),
                "nsd": mean([r for r in per_target if r["label"] == label], "nsd"),
            }
            for label in labels
        },
    }


def evaluate_round(round_: TrainingRound) -> dict:
    policy = policy_for(round_.project)
    examples = _examples(round_.snapshot, Split.HELDOUT)
    return evaluate_models(
        {"candidate": round_.candidate, "production": round_.base_model},
        examples,
        policy.nsd_tolerance_mm,
    )


def gate(metrics: dict, margin: float) -> tuple[bool, str]:
    """Candidate beats production by `margin` in mean held-out Dice, and no label regresses."""
    cand, prod = metrics["candidate"], metrics["production"]
    c, p = cand["summary"]["dice"], prod["summary"]["dice"]
    if c is None or p is None:
        return False, "no held-out targets to compare on"
    regressions = [
        label
        for label, stats in cand["labels"].items()
        if prod["labels"].get(label) and stats["dice"] < prod["labels"][label]["dice"]
    ]
    if regressions:
        return False, f"Dice fell for {', '.join(regressions)}"
    if c < p + margin:
        return False, f"mean Dice {c:.3f} does not beat production {p:.3f} by {margin:.3f}"
    return True, f"mean Dice {c:.3f} vs production {p:.3f} (margin {margin:.3f})"


# ---------------------------------------------------------------- promotion


def promote_round(round_: TrainingRound, *, actor, reason: str = "") -> TrainingRound:
    if round_.status != RoundStatus.CANDIDATE or round_.candidate is None:
        raise Conflict(f"round {round_.number} is {round_.status}; only a candidate is promoted")
    services.promote(round_.candidate, actor=actor, reason=reason or f"round {round_.number}")
    _set(round_, status=RoundStatus.PROMOTED, message=f"promoted: {reason}"[:500])
    return round_
