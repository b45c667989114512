"""Where a training step's loss comes from: the loss terms per frame of a model on clips of each
kind, and whether SAM2's object head blanked a frame that holds a target.

    python bench/loss_terms.py --checkpoint start.pt --config starter_c128

For ``--clips`` phantoms per kind (seeds of their own), one clip each as training draws it,
tracked with gradients: per kind and per kind of frame (a target present, or none), the frames'
mean and largest loss, the largest 20 × focal term, the norm of that term's gradient over the
weights (before the run's clipping at 1), and how many frames the object head blanked (every
mask logit set to SAM2's -1024, which has no gradient). A run of the starter logged steps of 10
and 96 among steps of about 1; this says which term and which frames give such values
(docs/inference.md, "The starter model"). One JSON line of the figures ends the run.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import repo_path  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    import torch

    from inference import roi
    from inference.checkpoint import read_state_dict
    from inference.model import STARTER, build_model
    from inference.phantoms import KINDS, make_phantoms
    from inference.preprocess import intensity_rule
    from inference.sam2_adapter import blanked, track_clip
    from inference.segtask import task_for
    from inference.train import TrainConfig
    from inference.train_data import PreparedItem, make_batch
    from inference.train_loss import LOSS_WEIGHTS, frame_loss

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--config", default=STARTER)
    parser.add_argument("--clips", type=int, default=6, help="phantoms per kind")
    parser.add_argument("--seed", type=int, default=424242, help="the phantoms' seed")
    args = parser.parse_args(argv)
    if args.clips < 1:
        parser.error("--clips must be at least 1")

    torch.set_num_threads(1)
    model = build_model(args.config, "cpu", training=True)
    model.load_state_dict(read_state_dict(args.checkpoint), strict=True)
    weights = [p for p in model.parameters() if p.requires_grad]
    size, context = int(model.image_size), roi.roi_context(args.config)
    intensity = intensity_rule(args.config)
    clips = TrainConfig()  # the clip length and box jitter training draws with
    rows = []
    for kind in KINDS:
        preps = [
            PreparedItem(
                task_for(p.modality, p.is_video).train_item(
                    p.image, p.mask, window=p.window, label=p.label
                ),
                size,
                context,
                intensity,
            )
            for p in make_phantoms([kind], args.clips, seed=args.seed)
        ]
        for n in range(len(preps)):
            rng = np.random.default_rng([7, n])
            frames, masks, boxes = make_batch(preps, [n], clips.clip_len, clips.box_jitter, rng)
            torch.manual_seed(n)  # dropout
            outs = track_clip(model, frames, boxes)
            for (high, ious, obj), target in zip(outs, masks, strict=True):
                parts = frame_loss(high, ious, obj, target, LOSS_WEIGHTS)
                focal = LOSS_WEIGHTS["focal"] * parts["focal"]
                grad = 0.0
                if focal.requires_grad:
                    got = torch.autograd.grad(focal, weights, retain_graph=True, allow_unused=True)
                    grad = float(sum(g.pow(2).sum() for g in got if g is not None) ** 0.5)
                rows.append({
                    "kind": kind,
                    "frames": "target" if bool(target.any()) else "no target",
                    "blanked": bool(blanked(high).all()),
                    "loss": float(sum(LOSS_WEIGHTS[k] * v.detach() for k, v in parts.items())),
                    "focal": float(focal.detach()),
                    "grad": grad,
                })  # fmt: skip
    out = {}
    for key in sorted({(r["kind"], r["frames"]) for r in rows}):
        group = [r for r in rows if (r["kind"], r["frames"]) == key]
        figures = {
            "n": len(group),
            "blanked": sum(r["blanked"] for r in group),
            "loss_mean": round(float(np.mean([r["loss"] for r in group])), 2),
            "loss_max": round(max(r["loss"] for r in group), 2),
            "focal_max": round(max(r["focal"] for r in group), 2),
            "focal_grad_max": round(max(r["grad"] for r in group), 1),
        }
        print(f"{key[0]:5s} {key[1]:9s} " + "  ".join(f"{k} {v}" for k, v in figures.items()))
        out[f"{key[0]}/{key[1]}"] = figures
    print(json.dumps({"checkpoint": str(args.checkpoint), "clips": args.clips, "frames": out}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
