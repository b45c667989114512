"""Simulated annotation study: does the labelling loop cut annotation cost round after round?

    python bench/loop.py                          # start from a model that has seen CT only
    python bench/loop.py --start var/models/x.pt --config starter_s256

The study (the MedSAM2 paper's pipeline, on synthetic cohorts from ``inference.phantoms``):
three batches of targets, each mixing CT-like lesions, MR-like liver lesions and echo clips.
Round r: the current model pre-segments batch r from a box on each target's key slice (the
ground truth's box, as an annotator draws it); the simulated annotator accepts the mask as is
when its Dice is at least ``--accept-dice`` (0.90), otherwise corrects every wrong voxel. The
corrected masks of batches 0..r (= ground truth) then fine-tune the next model from the current
one with ``inference.train`` (the product's trainer), and round r + 1 uses that model.

Cost model (voxel units, stated): drawing a target from scratch costs its area, summed over the
slices/frames it appears on (every voxel painted once). With the AI: the box prompt costs its
perimeter, a mask accepted as is costs nothing more, and a corrected mask costs the voxels that
had to change (false positives erased + false negatives painted). ``cost_vs_manual`` is the
mean over the batch's targets of assisted cost / manual cost (0.15 means 85% saved), so each
target counts the same whatever its size.

The default start model is trained briefly on CT phantoms only (``--start-steps``), i.e. a
model that has not seen MR or echo, as a published model meets a new site's data; fine-tuning
uses ``--lr`` (1e-4, above MedSAM2's 5e-5 because this small model starts far from its goal)
and a dice weight of 5 (``--dice-weight``; SAM2's 1 lets a small model collapse to empty masks
on small lesions, seen here: round-1 lesion Dice fell from 0.68 to 0.39 with weight 1 and lr 3e-4).
It ends by printing one JSON line: ``{"rounds": [{"round": 0, "mean_dice": …,
"accepted_unchanged": …, "cost_vs_manual": …}, …]}``.

What to label next (issue #15 item 3): ``--order`` picks each round's batch from a pool of
``--pool`` batches' worth of targets (default: as many as rounds, i.e. the whole cohort ends up
labelled whatever the order; give more to make the order matter). ``import``: cohort order (the
default, as before); ``random``: shuffled with ``--seed``; ``uncertainty``: the current model
pre-segments every target left in the pool and the most doubtful (``inference.qc.uncertainty``,
as the product's queues order them) are labelled first. The same ``--seed`` gives the same
cohort to every order. With ``--heldout N`` (targets per kind) the model is also fine-tuned after
the last round and every model's ``cost_vs_manual`` on a fixed held-out cohort is added per
round (``heldout_cost_vs_manual``): the fair figure between orders, since an uncertain batch
costs more to correct by design.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import repo_path  # noqa: F401
import torch

from inference import qc
from inference.bootstrap import as_item, segment_phantom
from inference.checkpoint import load_checkpoint
from inference.engine import Prompt
from inference.metrics import dice
from inference.model import STARTER
from inference.phantoms import KINDS, Phantom, make_phantoms
from inference.segtask import task_for
from inference.train import LOSS_WEIGHTS, TrainConfig, train

COHORT_SEED = 424_242
HELDOUT_SEED = 515_151
ORDERS = ("import", "random", "uncertainty")


def costs(pred: np.ndarray, p: Phantom, accept_dice: float) -> tuple[float, float, bool, float]:
    """(dice, assisted cost, accepted unchanged, manual cost) for one target."""
    truth = p.mask.astype(bool)
    pred = pred.astype(bool)
    score = dice(pred, truth)
    x0, y0, x1, y1 = p.box
    prompt = 2 * ((x1 - x0) + (y1 - y0))
    unchanged = score >= accept_dice
    edits = 0 if unchanged else int((pred ^ truth).sum())
    return score, prompt + edits, unchanged, float(truth.sum())


def run_round(model_path: Path, config: str, batch: list[Phantom], accept_dice: float) -> dict:
    loaded = load_checkpoint(model_path, config, "cpu")
    rows = [costs(segment_phantom(loaded, p), p, accept_dice) for p in batch]
    scores: dict[str, list[float]] = {}
    ratios: dict[str, list[float]] = {}
    for row, p in zip(rows, batch, strict=True):
        scores.setdefault(p.kind, []).append(row[0])
        ratios.setdefault(p.kind, []).append(row[1] / row[3])
    return {
        "mean_dice": round(float(np.mean([r[0] for r in rows])), 4),
        "accepted_unchanged": round(float(np.mean([r[2] for r in rows])), 4),
        # Mean over targets, so an echo clip's large area does not outweigh a small lesion.
        "cost_vs_manual": round(float(np.mean([r[1] / r[3] for r in rows])), 4),
        "dice_per_kind": {k: round(float(np.mean(v)), 3) for k, v in sorted(scores.items())},
        "cost_per_kind": {k: round(float(np.mean(v)), 3) for k, v in sorted(ratios.items())},
    }


def doubt(loaded, p: Phantom) -> float:
    """The model's uncertainty about its mask of ``p``, as pre-segmentation stores it."""
    task = task_for(p.modality, p.is_video)
    prompts = [Prompt(index=p.key_index, box=p.box)]
    mask, track = task.segment_detailed(loaded, p.image, prompts, window=p.window)
    scores = track.absolute_scores()
    flags = qc.check_mask(
        mask, key_index=p.key_index, box=p.box, scores=scores, is_video=p.is_video
    )
    frames = np.flatnonzero(mask.reshape(len(mask), -1).any(axis=1)).tolist()
    value = qc.uncertainty(scores, flags, frames=frames)
    return -1.0 if value is None else value  # unknown: after the scored ones


def next_batch(order: str, pool: list[Phantom], size: int, model: Path, config: str):
    """The next ``size`` targets to label from ``pool`` (already shuffled for "random")."""
    if order != "uncertainty":
        return pool[:size]
    loaded = load_checkpoint(model, config, "cpu")
    ranked = sorted(enumerate(pool), key=lambda ip: (-doubt(loaded, ip[1]), ip[0]))
    return [p for _, p in ranked[:size]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start", type=Path, help="start model (default: train a CT-only one)")
    parser.add_argument("--config", default=STARTER)
    parser.add_argument("--start-steps", type=int, default=300)
    parser.add_argument("--per-batch", type=int, default=6, help="targets per kind and batch")
    parser.add_argument("--steps", type=int, default=300, help="fine-tuning steps per round")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--dice-weight", type=float, default=5.0)
    parser.add_argument("--accept-dice", type=float, default=0.90)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--order", choices=ORDERS, default="import", help="what to label next")
    parser.add_argument("--pool", type=int, help="batches in the pool (default: --rounds)")
    parser.add_argument("--heldout", type=int, default=0, help="held-out targets per kind")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="loop-bench-"))

    weights = {**LOSS_WEIGHTS, "dice": args.dice_weight}
    model = args.start
    if model is None:
        print(f"start model: {args.start_steps} steps on CT phantoms only", flush=True)
        ct_only = make_phantoms(["ct"], 48, seed=COHORT_SEED + 1)
        model = work / "start.pt"
        train([as_item(p) for p in ct_only],
              TrainConfig(model_config=args.config, steps=args.start_steps, lr=1e-3,
                          encoder_lr=6e-4, weight_decay=0.01, warmup_steps=30, seed=args.seed,
                          loss_weights=weights),
              work / "start-run", out_path=model)  # fmt: skip

    per_batch = args.per_batch * len(KINDS)
    pool_batches = max(args.pool or args.rounds, args.rounds)
    pool = make_phantoms(KINDS, per_batch * pool_batches, seed=COHORT_SEED + args.seed)
    if args.order == "random":
        pool = [pool[i] for i in np.random.default_rng(args.seed).permutation(len(pool))]
    heldout = (
        make_phantoms(KINDS, args.heldout * len(KINDS), seed=HELDOUT_SEED) if args.heldout else []
    )
    batches: list[list[Phantom]] = []
    results = []
    for r in range(args.rounds):
        batch = next_batch(args.order, pool, per_batch, model, args.config)
        pool = [p for p in pool if all(p is not b for b in batch)]
        batches.append(batch)
        figures = run_round(model, args.config, batch, args.accept_dice)
        if heldout:
            held = run_round(model, args.config, heldout, args.accept_dice)
            figures["heldout_cost_vs_manual"] = held["cost_vs_manual"]
        results.append({"round": r, **figures})
        print(f"round {r}: mean Dice {figures['mean_dice']:.3f} {figures['dice_per_kind']}, "
              f"accepted unchanged {figures['accepted_unchanged']:.0%}, "
              f"cost vs manual {figures['cost_vs_manual']:.3f} {figures['cost_per_kind']}",
              flush=True)  # fmt: skip
        if r + 1 == args.rounds and not heldout:
            break
        corrected = [as_item(p) for b in batches[: r + 1] for p in b]  # corrected = truth
        result = train(corrected,
                       TrainConfig(model_config=args.config, steps=args.steps, lr=args.lr,
                                   encoder_lr=args.lr * 0.6, warmup_steps=20,
                                   seed=args.seed + r + 1, loss_weights=weights),
                       work / f"round-{r + 1}", init_checkpoint=model,
                       out_path=work / f"round-{r + 1}.pt")  # fmt: skip
        model = result.model_path
        print(f"fine-tuned round {r + 1} on {len(corrected)} corrected targets "
              f"({result.step} steps, loss {result.final_loss:.3f})", flush=True)  # fmt: skip
    final = {}
    if heldout:  # the model after the last round's masks, on the same held-out cohort
        final = {"final_heldout_cost_vs_manual": run_round(
            model, args.config, heldout, args.accept_dice)["cost_vs_manual"]}  # fmt: skip
    print(f"total {(time.monotonic() - started) / 60:.1f} min", flush=True)
    keep = ("round", "mean_dice", "accepted_unchanged", "cost_vs_manual", "heldout_cost_vs_manual")
    rounds = [{k: r[k] for k in keep if k in r} for r in results]
    print(json.dumps({"order": args.order, "rounds": rounds, **final}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
