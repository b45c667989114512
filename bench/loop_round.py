"""One round of the simulated study, to compare recipes (docs/inference.md, "Where the forgetting
was"): the CT-only start, the study's first batch (random or balanced order), the product's split,
its pseudo-labels (production's masks of unlabelled pool cases of the kinds it is trusted on) and
its gate.

    python bench/loop_round.py                                  # the recipe, 1,800 steps
    python bench/loop_round.py --pseudo-per-kind 0 --decoder-lr-ratio 1   # the recipe before
    python bench/loop_round.py --steps 900 --per-batch 6        # the sweep's round
    python bench/loop_round.py --seed 1 --split hash              # the split before the strata

Prints Dice per kind and the cost on the study's evaluation cohort (truth), the held-out accepted
masks' Dice per kind for the candidate and for production, the forgetting check (the candidate
against production's masks of unlabelled pool cases of trusted kinds), the gate's verdict, what
the round trained on per kind and appearance (accepted and pseudo-label masks, and their Dice
against the truth), and per CT target of the cohort its appearance (darker/brighter), Dice and
Dice on the prompted slice (a miss there is the decoder's, not propagation's); one JSON line ends
the run. ``--order balanced`` picks the batch as the study's balanced queue does; ``--candidate``
gates a saved candidate again instead of training one; ``--kinds`` trains on some kinds' masks
only (which kinds' training makes the round forget).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import loop
import numpy as np
import repo_path  # noqa: F401


def trained_on(rows: list[tuple]) -> dict:
    """What the round trained on, per kind and appearance of the truth: accepted and pseudo-label
    masks, and how good those labels were (mean Dice against the truth)."""
    from inference.metrics import dice
    from inference.replay import appearance

    out: dict[str, dict] = {}
    for p, mask, source in rows:
        row = out.setdefault(f"{p.kind}/{appearance(p.image, p.mask)}",
                             {"accepted": 0, "pseudo": 0, "dice": []})  # fmt: skip
        row[source] += 1
        row["dice"].append(float(dice(mask, p.mask)))
    for row in out.values():
        row["label_dice"] = round(float(np.mean(row.pop("dice"))), 3)
    return dict(sorted(out.items()))


def main(argv: list[str] | None = None) -> int:
    from inference import replay
    from inference.model import STARTER
    from inference.phantoms import KINDS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=STARTER)
    parser.add_argument("--seed", type=int, default=0, help="the study's --seed")
    parser.add_argument(
        "--order", choices=("random", "balanced"), default="random",
        help="the queue order the first batch is picked in (bench/loop.py's)",
    )  # fmt: skip
    parser.add_argument("--start-steps", type=int, default=300)
    parser.add_argument("--per-batch", type=int, default=12)  # bench/loop.py's
    parser.add_argument("--eval-per-kind", type=int, default=32)  # as bench/loop.py
    parser.add_argument("--steps", type=int, default=1800)
    parser.add_argument("--train-seed", type=int, default=1, help="the study's round 1 uses 1")
    parser.add_argument("--lr", type=float)
    parser.add_argument("--object-head-lr-ratio", type=float, default=replay.OBJECT_HEAD_LR_RATIO)
    parser.add_argument("--encoder-lr-ratio", type=float, default=1.0)
    parser.add_argument("--invert", type=float, default=0.0)
    parser.add_argument("--distill", type=float, default=0.0, help="TrainConfig.distill")
    parser.add_argument(
        "--lr-ratio",
        action="append",
        default=[],
        metavar="PREFIX=RATIO",
        help="another TrainConfig.lr_ratios entry (repeatable)",
    )
    parser.add_argument(
        "--split",
        choices=("hash", "strata"),
        default="strata",
        help="the product's (strata: every kind trains and is held out) or the hash alone",
    )
    parser.add_argument("--decoder-lr-ratio", type=float, default=replay.DECODER_LR_RATIO)
    parser.add_argument("--pseudo-per-kind", type=int, help="default: RoundPolicy's")
    parser.add_argument("--pseudo-min-dice", type=float, help="default: RoundPolicy's")
    parser.add_argument("--check-per-kind", type=int, help="default: RoundPolicy's")
    parser.add_argument("--max-lost-share", type=float, help="default: RoundPolicy's")
    parser.add_argument("--check-min-dice", type=float, help="default: RoundPolicy's")
    parser.add_argument(
        "--candidate", type=Path, help="gate this trained candidate instead of training one"
    )
    parser.add_argument(
        "--kinds", nargs="+", choices=KINDS, default=list(KINDS),
        help="train only on these kinds' masks (a diagnostic: which kinds' training forgets)",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work", type=Path, help="keep the models here (default: a temp dir)")
    args = parser.parse_args(argv)
    if args.candidate is not None and not args.candidate.is_file():
        parser.error(f"no checkpoint at {args.candidate}")
    started = time.monotonic()
    work = args.work or Path(tempfile.mkdtemp(prefix="loop-round-"))
    work.mkdir(parents=True, exist_ok=True)

    import torch

    torch.set_num_threads(args.threads)
    from inference.checkpoint import load_checkpoint
    from inference.metrics import dice
    from inference.phantoms import make_phantoms
    from inference.segtask import task_for
    from inference.train import train

    gate, summaries, assign_sides, policy, _, _, _ = loop._django()
    seeds = loop.cohort_seeds(args.seed)
    per_batch = args.per_batch * len(KINDS)
    pool = make_phantoms(KINDS, per_batch * 8, seed=seeds["pool"])  # the study's default pool
    cohort = make_phantoms(KINDS, args.eval_per_kind * len(KINDS), seed=seeds["eval"])
    start = loop.start_model(args, work)
    production = load_checkpoint(start, args.config, "cpu")
    scored: dict = {}
    if args.order == "balanced":  # as bench/loop.py's first round: the whole pool is scored
        scored = {i: loop._segment(production, p, with_doubt=True) for i, p in enumerate(pool)}
        picked = loop.queue("balanced", list(range(len(pool))), pool, scored,
                            policy["heldout_fraction"])[:per_batch]  # fmt: skip
    else:
        order = np.random.default_rng(args.seed).permutation(len(pool))
        picked = [int(i) for i in order][:per_batch]
    accepted = [
        (i + 1, pool[i], loop.annotate(
            scored[i][0] if scored else loop._segment(production, pool[i])[0], pool[i].mask, 0.9))
        for i in picked
    ]  # fmt: skip
    rows = [(cid, p, lab.produced) for cid, p, lab in accepted]
    by_case = loop.strata(rows) if args.split == "strata" else {}
    split = assign_sides([cid for cid, _, _ in rows], {},
                         policy["heldout_fraction"], by_case)  # fmt: skip
    train_rows = [(p, m, "accepted") for cid, p, m in rows if split[cid] == "train"]
    held = [(p, m) for cid, p, m in rows if split[cid] == "heldout"]
    tol = policy["nsd_tolerance_mm"]
    metrics = {"production": loop.heldout_summary(production, held, summaries, tol)}
    unlabelled = [i for i in range(len(pool)) if i not in picked]
    per_kind = policy["pseudo_per_kind"] if args.pseudo_per_kind is None else args.pseudo_per_kind
    min_dice = policy["pseudo_min_dice"] if args.pseudo_min_dice is None else args.pseudo_min_dice
    pseudo = loop.pseudo_labels(production, pool, unlabelled, metrics["production"]["kinds"],
                                per_kind, min_dice, scored)  # fmt: skip
    train_rows += [(pool[i], m, "pseudo") for i, m in pseudo]
    train_rows = [row for row in train_rows if row[0].kind in args.kinds]
    items = [task_for(p.modality, p.is_video).train_item(p.image, m, window=p.window,
             label=p.label) for p, m, _ in train_rows]  # fmt: skip
    items, shares = replay.weighted(items, [p.kind for p, _, _ in train_rows])
    trusted = loop.trusted_kinds(metrics["production"]["kinds"], min_dice)
    for item, (p, _, _) in zip(items, train_rows, strict=True):
        item.trusted = p.kind in trusted  # as the product marks them (replay.py)
    ratios = {} if args.encoder_lr_ratio == 1 else {"image_encoder.": args.encoder_lr_ratio}
    for entry in args.lr_ratio:
        prefix, _, ratio = entry.partition("=")
        ratios[prefix] = float(ratio)
    config = replay.round_config(
        args.config, steps=args.steps, lr=args.lr, seed=args.train_seed, invert=args.invert,
        distill=args.distill, object_head_lr_ratio=args.object_head_lr_ratio,
        decoder_lr_ratio=args.decoder_lr_ratio,
    )  # fmt: skip
    config.lr_ratios.update(ratios)
    if args.candidate is None:
        result = train(items, config, work / "round", init_checkpoint=start,
                       out_path=work / "candidate.pt")  # fmt: skip
    candidate = load_checkpoint(args.candidate or result.model_path, args.config, "cpu")

    metrics["candidate"] = loop.heldout_summary(candidate, held, summaries, tol)
    check_per_kind, lost_share, check_bar = (
        policy[name] if given is None else given
        for name, given in (("check_per_kind", args.check_per_kind),
                            ("max_lost_share", args.max_lost_share),
                            ("check_min_dice", args.check_min_dice))
    )  # fmt: skip
    metrics["check"] = loop.forgetting_check(
        production, candidate, pool, unlabelled, metrics["production"]["kinds"],
        {i for i, _ in pseudo}, check_per_kind, check_bar, scored,
    )  # fmt: skip
    passed, reason = gate(metrics, policy["promote_margin"], policy["max_dice_drop"],
                          policy["promote_error_share"], lost_share)  # fmt: skip
    pairs = [(loop._segment(candidate, p)[0], p) for p in cohort]
    figures = loop.figures(cohort, [loop.annotate(m, p.mask, 0.9) for m, p in pairs])
    ct = [
        {
            "appearance": replay.appearance(p.image, p.mask),
            "dice": round(float(dice(m, p.mask)), 3),
            "key_dice": round(float(dice(m[p.key_index], p.mask[p.key_index])), 3),
        }
        for m, p in pairs
        if p.kind == "ct"
    ]
    out = {
        "recipe": {
            "steps": args.steps,
            "train_seed": args.train_seed,
            "invert": args.invert,
            "distill": args.distill,
            "trusted": sorted(trusted),
            "split": args.split,
            "pseudo_per_kind": per_kind,
            "pseudo_min_dice": min_dice,
            "check_per_kind": check_per_kind,
            "max_lost_share": lost_share,
            "check_min_dice": check_bar,
            "lr_ratios": config.lr_ratios,
            "lr": config.lr,
            "kinds": args.kinds,
        },  # fmt: skip
        "groups": shares,
        "trained": trained_on(train_rows),
        "held_out": len(held),
        "pseudo": len(pseudo),
        "dice_by_kind": figures["dice_by_kind"],
        "cost_vs_manual": figures["cost_vs_manual"],
        "heldout": {
            who: {k: v["dice"] for k, v in metrics[who]["kinds"].items()}
            for who in ("production", "candidate")
        },
        "check": metrics["check"]["kinds"],
        "gate": {"passed": passed, "reason": reason},
        "ct_targets": ct,
        "minutes": round((time.monotonic() - started) / 60, 1),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
