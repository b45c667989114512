"""How many held-out targets of a kind does the gate need to judge a fall right?

    python bench/gate_noise.py --production start.pt --candidate round-1.pt --kind ct

The gate (``modelops.evaluation.gate``) refuses a candidate when a kind's mean held-out Dice falls
by more than ``max_dice_drop`` (0.02) below production's. A round holds out a few targets of a
kind (about 20% of a batch), and one lesion's luck can decide. This bench segments ``--count``
fresh phantoms of ``--kind`` (a cohort of its own seeds, disjoint from ``bench/loop.py``'s start,
pool and evaluation cohorts) with both models from the key-slice box, takes each target's change
in Dice (candidate minus production, against the truth), and for each held-out size k gives the
odds that k targets drawn from the cohort show a mean fall beyond the allowance: every k-subset
when there are at most ``--draws`` of them, else ``--draws`` random ones (a fixed generator).

The cohort's mean change stands for the candidate's true change. Where it is within the allowance
a refusal is the wrong verdict; where it is beyond, a pass is. ``wrong_verdict`` per k and
``held_out_needed`` (the smallest k whose wrong-verdict odds are at most ``--risk``) end the run
in one JSON line, with the change per appearance of the target (``inference.replay.appearance``:
darker or brighter than its surroundings) and how many targets lost more than 0.2 (a lesion the
candidate misses, not one it outlines a little worse). Sizes above half the cohort are left
out: drawn without replacement from a finite cohort they would look surer than they are.

``agreement`` is what the gate's forgetting check sees without the truth: each target's Dice
between the candidate's mask and production's, how many fall below the check's
``LOST_BELOW`` and how many of those the candidate truly lost; ``targets`` lists every target's
appearance, both models' Dice and the agreement, and each model's doubt and pre-segmentation
flags (``inference.qc``: what the check can see of a target besides the agreement).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import repo_path  # noqa: F401

NOISE_SEED_BASE = 4_000  # + --seed: beside bench/loop.py's 1,000 / 2,000 / 3,000


def refusal_odds(
    changes: np.ndarray, k: int, max_drop: float, draws: int = 20_000, seed: int = 0
) -> float:
    """The share of k-target held-out sets, drawn from ``changes`` (per-target Dice, candidate
    minus production) without replacement, whose mean change is below ``-max_drop``: the gate's
    per-kind rule on k targets. Exact over every k-subset when there are at most ``draws``."""
    changes = np.asarray(changes, dtype=float)
    n = len(changes)
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the {n} targets")
    if math.comb(n, k) <= draws:
        subsets = np.array(list(itertools.combinations(range(n), k)))
    else:
        rng = np.random.default_rng(seed)
        subsets = np.argsort(rng.random((draws, n)), axis=1)[:, :k]
    return float(np.mean(changes[subsets].mean(axis=1) < -max_drop))


def verdicts(changes: np.ndarray, sizes: list[int], max_drop: float, draws: int, risk: float):
    """Per held-out size: the refusal odds and the odds of the wrong verdict, taking the whole
    cohort's mean change as the truth; and the smallest size at ``risk`` or below (None: none)."""
    falls = float(np.mean(changes)) < -max_drop  # the candidate truly falls beyond the allowance
    refuse = {k: refusal_odds(changes, k, max_drop, draws) for k in sizes}
    wrong = {k: round(1.0 - p if falls else p, 4) for k, p in refuse.items()}
    needed = next((k for k in sizes if wrong[k] <= risk), None)
    return {k: round(p, 4) for k, p in refuse.items()}, wrong, needed


def by_appearance(changes: np.ndarray, looks: list[str]) -> dict:
    """Per appearance: how many targets, their mean change, and how many lost more than 0.2."""
    out = {}
    for look in sorted(set(looks)):
        rows = changes[[i for i, x in enumerate(looks) if x == look]]
        out[look] = {"n": len(rows), "change": round(float(rows.mean()), 4),
                     "lost_over_0.2": int((rows < -0.2).sum())}  # fmt: skip
    return out


def agreement_figures(agreement: np.ndarray, changes: np.ndarray, below: float) -> dict:
    """The candidate's Dice against production's masks (no truth; what the gate's forgetting
    check measures): its mean, how many targets are below ``below`` (the check's "lost"), how many
    of those the candidate truly lost (a fall of more than 0.2 against the truth) or truly
    improved, and how many it truly lost that the check would not count."""
    apart = agreement < below
    return {"mean": round(float(agreement.mean()), 4), f"under_{below}": int(apart.sum()),
            "of_them_lost": int((apart & (changes < -0.2)).sum()),
            "of_them_gained": int((apart & (changes > 0.2)).sum()),
            "lost_not_seen": int((~apart & (changes < -0.2)).sum())}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    import loop
    import torch

    from inference.checkpoint import load_checkpoint
    from inference.metrics import dice
    from inference.model import STARTER
    from inference.phantoms import KINDS, make_phantoms
    from inference.qc import codes
    from inference.replay import appearance

    policy = loop._django()[3]
    from annotator.modelops.evaluation import LOST_BELOW

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--production", type=Path, required=True)
    parser.add_argument("--candidate", type=Path, required=True)
    parser.add_argument("--config", default=STARTER)
    parser.add_argument("--kind", choices=KINDS, default="ct")
    parser.add_argument("--count", type=int, default=48, help="fresh targets of the kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-drop", type=float, default=policy["max_dice_drop"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 3, 4, 6, 8, 12, 16, 24])
    parser.add_argument("--draws", type=int, default=20_000)
    parser.add_argument("--risk", type=float, default=0.1, help="wrong-verdict odds accepted")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    for path in (args.production, args.candidate):
        if not path.is_file():
            parser.error(f"no checkpoint at {path}")
    if not 0 <= args.seed < 1_000:
        parser.error("--seed must be in [0, 1000)")
    if args.count < 2:
        parser.error("--count must be at least 2")
    sizes = sorted({k for k in args.sizes if 1 <= k <= args.count // 2})
    if not sizes:
        parser.error(f"no --sizes between 1 and half of --count ({args.count // 2})")
    torch.set_num_threads(args.threads)
    started = time.monotonic()

    seed = NOISE_SEED_BASE + args.seed
    assert seed not in loop.cohort_seeds(args.seed).values()  # never a cohort the loop uses
    cohort = make_phantoms([args.kind], args.count, seed=seed)
    scores, masks, segmented = {}, {}, {}
    for name, path in (("production", args.production), ("candidate", args.candidate)):
        loaded = load_checkpoint(path, args.config, "cpu")
        segmented[name] = [loop._segment(loaded, p, with_doubt=True) for p in cohort]
        masks[name] = [s.mask for s in segmented[name]]
        scores[name] = np.array([dice(m, p.mask) for m, p in zip(masks[name], cohort, strict=True)])
        print(f"{name}: mean Dice {scores[name].mean():.4f} on {args.count} {args.kind} targets",
              flush=True)  # fmt: skip
    changes = scores["candidate"] - scores["production"]
    # How far the candidate's mask is from production's, truth unseen: what a check on unlabelled
    # cases could measure.
    agreement = np.array([dice(c, m) for c, m in zip(masks["candidate"], masks["production"],
                                                      strict=True)])  # fmt: skip
    looks = by_appearance(changes, [appearance(p.image, p.mask) for p in cohort])
    refuse, wrong, needed = verdicts(changes, sizes, args.max_drop, args.draws, args.risk)
    print(f"change {changes.mean():+.4f} (sd {changes.std(ddof=1):.4f}); allowance "
          f"{args.max_drop}; held-out size: refusal odds, wrong-verdict odds")  # fmt: skip
    for k in sizes:
        print(f"  {k:3d}: {refuse[k]:.3f}  {wrong[k]:.3f}")
    for look, row in looks.items():
        print(f"{look}: {row['n']} targets, change {row['change']:+.4f}, "
              f"{row['lost_over_0.2']} lost more than 0.2")  # fmt: skip
    seen = agreement_figures(agreement, changes, LOST_BELOW)
    print(f"against production's masks: mean Dice {seen['mean']:.4f}, "
          f"{seen[f'under_{LOST_BELOW}']} below {LOST_BELOW}, {seen['of_them_lost']} of them "
          f"truly lost")  # fmt: skip
    print(f"total {(time.monotonic() - started) / 60:.1f} min", flush=True)
    print(json.dumps({
        "kind": args.kind, "count": args.count, "seed": args.seed, "max_drop": args.max_drop,
        "production_dice": round(float(scores["production"].mean()), 4),
        "candidate_dice": round(float(scores["candidate"].mean()), 4),
        "true_change": round(float(changes.mean()), 4),
        "sd_change": round(float(changes.std(ddof=1)), 4),
        "refusal_odds": refuse, "wrong_verdict": wrong, "held_out_needed": needed,
        "by_appearance": looks,
        "agreement": seen,
        "targets": [
            {"appearance": look, "production": round(float(a), 3), "candidate": round(float(b), 3),
             "agreement": round(float(c), 3),
             # What the check can see besides agreement: each model's doubt and flags.
             "production_doubt": loop._known_doubt(ps), "candidate_doubt": loop._known_doubt(cs),
             "production_flags": codes(ps.flags), "candidate_flags": codes(cs.flags)}
            for look, a, b, c, ps, cs in zip([appearance(p.image, p.mask) for p in cohort],
                                             scores["production"], scores["candidate"], agreement,
                                             segmented["production"], segmented["candidate"],
                                             strict=True)
        ],
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
