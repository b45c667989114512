"""Fine-tuning rounds, worker side: train from production on the snapshot, evaluate on the
held-out cases and the forgetting check, apply the gate (and auto-promote when the policy says so).

`run_round` is idempotent and resumable: training checkpoints into the round's run directory, so a
redelivered task (its worker died) continues from the last checkpoint, and a finished phase is
never redone.
"""

from __future__ import annotations

import time
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from annotator.registry import quality, services
from annotator.registry.models import ModelOrigin

from . import round_dist
from .evaluation import evaluate_check, evaluate_production, evaluate_round, gate
from .models import ACTIVE_ROUND_STATUSES, RoundStatus, Split, TrainingRound
from .round_data import examples, train_items
from .rounds import fail, policy_for, promote_round, set_fields, trusted_kinds

PROGRESS_INTERVAL_S = 1.0


def run_dir(round_: TrainingRound) -> Path:
    return Path(settings.MODEL_STORE) / "rounds" / f"{round_.project_id}-{round_.number}"


def run_round(round_id: int, *, task_id: str = "") -> TrainingRound:
    from inference import replay
    from inference.train import TrainingError, train

    round_ = TrainingRound.objects.select_related("project", "base_model", "snapshot").get(
        pk=round_id
    )
    if round_.status not in ACTIVE_ROUND_STATUSES:
        return round_
    if round_.cancel_requested:
        set_fields(
            round_, status=RoundStatus.CANCELLED, finished_at=timezone.now(), message="cancelled"
        )
        return round_
    set_fields(
        round_,
        attempts=round_.attempts + 1,
        task_id=task_id or round_.task_id,
        started_at=round_.started_at or timezone.now(),
    )
    policy = policy_for(round_.project)
    if round_.candidate_id is None:
        if "production" not in round_.metrics:  # once: a resumed round keeps the figures
            set_fields(round_, status=RoundStatus.TRAINING,
                       message="evaluating production on the held-out cases")  # fmt: skip
            figures = evaluate_production(round_, policy.nsd_tolerance_mm)
            set_fields(round_, metrics={**round_.metrics, "production": figures})
        set_fields(round_, status=RoundStatus.TRAINING, message="loading the training data")
        found = examples(round_.snapshot, Split.TRAIN)
        # Production's own masks, only of kinds where it scored well on this project's held-out
        # cases (docs/inference.md, "Pseudo-labels").
        trusted = _trusted(round_, policy)
        pseudo = examples(round_.snapshot, Split.PSEUDO, kinds=trusted)
        steps = int(round_.config["steps"])
        config = replay.round_config(  # the recipe (docs/inference.md, "Rounds that do not forget")
            round_.base_model.config,
            steps=steps,
            lr=round_.config.get("learning_rate"),  # None: the recipe's for the model
            seed=round_.number,
            batch_size=round_dist.global_batch(),  # one clip per process (1: in-process)
            device=_device(),
            checkpoint_every=max(1, min(50, steps // 10)),
        )
        items, groups = train_items(found + pseudo, config.clip_len, trusted=trusted)
        used = len(pseudo)
        del found, pseudo
        if not items:
            return fail(round_, "the snapshot has no non-empty training mask")
        round_.config = {
            **round_.config,
            "replay": {
                "balance": replay.RECIPE_BALANCE,
                "anchor": config.anchor,
                "distill": config.distill,
                "lr_ratios": config.lr_ratios,
                "groups": groups,
                "pseudo_labels": used,
                "trusted_kinds": sorted(trusted),
            },
        }
        set_fields(round_, config=round_.config)
        reporter = _TrainReporter(round_)
        try:
            how = dict(
                init_checkpoint=services.model_path(round_.base_model),
                progress=reporter,
                should_stop=lambda: _cancel_requested(round_.pk),
            )
            if round_dist.distributed():  # data-parallel under torchrun (docs/deploy.md)
                run_id = f"round-{round_.pk}-{round_.attempts}"
                result = round_dist.train_with_torchrun(
                    items, config, run_dir(round_), run_id=run_id, **how
                )
            else:
                result = train(items, config, run_dir(round_), **how)
        except (TrainingError, ValueError) as exc:
            return fail(round_, f"training failed: {exc}")
        if result.status == "cancelled":
            set_fields(round_, status=RoundStatus.CANCELLED, finished_at=timezone.now(),
                 message=f"cancelled at step {result.step}/{result.total_steps}")  # fmt: skip
            return round_
        candidate = services.register(
            result.model_path,
            name=f"{round_.project.slug} round {round_.number}"
            + (f" ({quality.KIND_NAMES[round_.kind]})" if round_.kind else ""),
            origin=ModelOrigin.ROUND,
            config=round_.base_model.config,
            project=round_.project,
            parent=round_.base_model,
            round_number=round_.number,
            kind=round_.kind,
            metrics=quality.metrics(
                {},
                source="none",  # until the evaluation below
                training={"final_loss": result.final_loss, "steps": result.step},
            ),
        )
        round_.config = {
            **round_.config,
            "trained_steps": result.step,
            "resumed_from": result.resumed_from,  # > 0: a lost worker's run was continued
        }
        set_fields(round_, candidate=candidate, config=round_.config)
    set_fields(round_, status=RoundStatus.EVALUATING, message="evaluating on held-out cases",
         progress={**round_.progress, "phase": "evaluating"})  # fmt: skip
    metrics = evaluate_round(round_, policy.nsd_tolerance_mm)
    if round_.snapshot.check_count:  # production's masks of unopened cases, where it is good
        set_fields(round_, message="checking the candidate against production's masks of "
                   f"{round_.snapshot.check_count} unopened cases")  # fmt: skip
        metrics["check"] = evaluate_check(round_, _trusted(round_, policy, "check_min_dice"))
    passed, reason = gate(
        metrics,
        policy.promote_margin,
        policy.max_dice_drop,
        policy.promote_error_share,
        policy.max_lost_share,
    )
    verdict = {"passed": passed, "reason": reason}
    candidate = round_.candidate
    candidate.metrics = quality.metrics(
        metrics["candidate"].get("kinds", {}),
        source="round",
        gate=verdict,
        training=quality.read_metrics(candidate.metrics).get("training", {}),
    )
    candidate.save(update_fields=["metrics"])
    set_fields(
        round_,
        metrics={**metrics, "gate": verdict},
        status=RoundStatus.CANDIDATE,
        finished_at=timezone.now(),
        message="evaluated; waiting for a promotion decision",
    )
    if policy.auto_promote and passed:
        problems = quality.promotion_problems(candidate)
        if problems:  # the quality floor: it stays a candidate, and the round says why
            set_fields(round_, message=("not promoted automatically: " + "; ".join(problems))[:500])
        else:
            promote_round(round_, actor=None, reason=f"auto: {reason}")
    return round_


def _trusted(round_: TrainingRound, policy, bar: str = "pseudo_min_dice") -> set[str]:
    """The kinds where production's held-out Dice reaches the round's ``bar`` (fixed when the
    round started; older rounds: the policy's): only there are its masks trained on
    (pseudo-labels, ``pseudo_min_dice``) or checked against (the forgetting check,
    ``check_min_dice``)."""
    value = round_.config.get(bar, getattr(policy, bar))
    return trusted_kinds((round_.metrics.get("production") or {}).get("kinds", {}), value)


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _cancel_requested(round_id: int) -> bool:
    return TrainingRound.objects.filter(pk=round_id, cancel_requested=True).exists()


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
        set_fields(self.round, progress=self.round.progress, message=self.round.message)


def fail_round(round_id: int, message: str) -> None:
    round_ = TrainingRound.objects.filter(pk=round_id).first()
    if round_ is not None and round_.status in ACTIVE_ROUND_STATUSES:
        fail(round_, message)
