"""Train the starter model on synthetic phantoms, from random weights, on the CPU.

    python -m inference.bootstrap --out var/models/starter.pt [--steps 2441]

(``python manage.py bootstrap_model`` runs this and registers the result.) The starter is a
reduced-size SAM2.1 model for the demo and for tests, trained on CT-like lesions, MR-like liver
lesions and echo-like clips; it is not a clinical model. Its Dice on held-out phantoms (seeds
never used for training) is printed and returned, per kind.

The length of training is a number of steps (``DEFAULT_STEPS``, the figures in the README), never
derived from a timing: a machine busy with other work trains the same model, only later. The ETA
in the progress lines follows the last steps' mean duration. A run interrupted (killed worker,
Ctrl-C) resumes from its last checkpoint in ``run_dir`` when called again.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from inference.checkpoint import LoadedModel, load_checkpoint
from inference.engine import Prompt
from inference.metrics import dice
from inference.model import STARTER
from inference.phantoms import KINDS, Phantom, make_phantoms
from inference.segtask import task_for
from inference.train import LOSS_WEIGHTS, Progress, TrainConfig, TrainItem, train

TRAIN_SEED, HELDOUT_SEED = 11, 7_777
# The run the README's figures come from (held-out Dice CT 0.961, MR 0.961, echo 0.991): 11.8 min
# on two idle cores; a busy machine takes longer, never fewer steps.
DEFAULT_STEPS = 2_441
Log = Callable[[str], None]


@dataclass
class BootstrapSettings:
    config: str = STARTER
    steps: int = DEFAULT_STEPS
    per_kind: int = 48  # training phantoms per kind
    heldout_per_kind: int = 8
    seed: int = 0
    batch_size: int = 1
    clip_len: int = 8  # every memory slot (7) sees training
    lr: float = 5e-4  # with the target crop, 1e-3 gave unstable runs (MR lesions 0.26 in one)
    encoder_lr: float = 3e-4
    dice_weight: float = 5.0  # from scratch, small lesions: more weight on overlap than SAM2's 1
    device: str = "cpu"
    checkpoint_every: int = 50  # steps between resume checkpoints (a rerun loses fewer)


def as_item(p: Phantom) -> TrainItem:
    """A phantom as its kind's segmentation task trains on it (inference/segtask.py)."""
    return task_for(p.modality, p.is_video).train_item(
        p.image, p.mask, window=p.window, label=p.label
    )


def segment_phantom(loaded: LoadedModel, p: Phantom) -> np.ndarray:
    """The engine's mask for a phantom, from a box on its key slice (the annotator's prompt),
    through its kind's segmentation task, as pre-segmentation segments a target."""
    prompts = [Prompt(index=p.key_index, box=p.box)]
    return task_for(p.modality, p.is_video).segment(loaded, p.image, prompts, window=p.window)


def evaluate(loaded: LoadedModel, phantoms: list[Phantom]) -> dict:
    """Mean Dice per kind (3D for volumes, over all frames for clips) and overall."""
    per_kind: dict[str, list[float]] = {}
    for p in phantoms:
        per_kind.setdefault(p.kind, []).append(dice(segment_phantom(loaded, p), p.mask))
    out = {k: round(float(np.mean(v)), 4) for k, v in per_kind.items()}
    out["lesions"] = round(
        float(np.mean(per_kind.get("ct", []) + per_kind.get("mr", []) or [0.0])), 4
    )
    return out


def heldout_phantoms(per_kind: int) -> list[Phantom]:
    return make_phantoms(KINDS, per_kind * len(KINDS), seed=HELDOUT_SEED)


def bootstrap(
    out: str | Path,
    settings: BootstrapSettings,
    log: Log = print,
    *,
    run_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> dict:
    """Train ``settings.steps`` steps, save ``out`` ({"model": state_dict}) and return the
    held-out Dice per kind. ``run_dir`` keeps the resume checkpoint (default: next to ``out``):
    called again with the same run_dir and settings, training resumes where it stopped.
    ``progress`` gets (step, total, loss, eta seconds) after every step."""
    out = Path(out)
    run_dir = Path(run_dir) if run_dir is not None else out.parent / f".{out.stem}-run"
    torch.manual_seed(settings.seed)
    log(f"making {settings.per_kind} training phantoms per kind ({', '.join(KINDS)})")
    count = settings.per_kind * len(KINDS)
    train_set = make_phantoms(KINDS, count, seed=TRAIN_SEED + settings.seed)
    items = [as_item(p) for p in train_set]
    steps = settings.steps
    config = TrainConfig(
        model_config=settings.config,
        steps=steps,
        batch_size=settings.batch_size,
        clip_len=settings.clip_len,
        lr=settings.lr,
        encoder_lr=settings.encoder_lr,
        weight_decay=0.01,
        warmup_steps=min(50, steps // 10),
        min_lr_ratio=0.05,
        box_jitter=0.04,
        loss_weights={**LOSS_WEIGHTS, "dice": settings.dice_weight},
        device=settings.device,
        seed=settings.seed,
        checkpoint_every=settings.checkpoint_every,
    )
    log(f"training {steps} steps (a resume checkpoint every {settings.checkpoint_every})")
    started = time.monotonic()
    last = [0.0]

    def report(step: int, total: int, loss: float, eta: float) -> None:
        if progress is not None:
            progress(step, total, loss, eta)
        if time.monotonic() - last[0] > 15 or step == total:  # the log's pace, not training's
            last[0] = time.monotonic()
            log(f"step {step}/{total}  loss {loss:.4f}  eta {eta / 60:.1f} min")

    result = train(items, config, run_dir, out_path=out, progress=report)
    with contextlib.suppress(OSError):
        run_dir.rmdir()  # empty once finished (train removes its resume file)
    minutes = (time.monotonic() - started) / 60
    resumed = f" (resumed at step {result.resumed_from})" if result.resumed_from else ""
    log(f"trained {result.step} steps{resumed} in {minutes:.1f} min; evaluating on held-out "
        "phantoms")  # fmt: skip
    loaded = load_checkpoint(out, settings.config, settings.device)
    scores = evaluate(loaded, heldout_phantoms(settings.heldout_per_kind))
    scores.update(steps=result.step, train_minutes=round(minutes, 2))
    log("held-out Dice: " + json.dumps(scores))
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="training steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", default=STARTER)
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    settings = BootstrapSettings(config=args.config, steps=args.steps, seed=args.seed)
    scores = bootstrap(args.out, settings, log=lambda m: print(m, flush=True))
    print(json.dumps(scores))
    return 0


if __name__ == "__main__":
    sys.exit(main())
