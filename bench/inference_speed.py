"""Benchmark the inference engine against the reference MedSAM2 procedure, in one process.

    python bench/inference_speed.py --checkpoint var/models/starter.pt --config starter_c128

On one synthetic CT volume (default 64 x 512 x 512 HU, one ellipsoid lesion spanning ~10 slices,
box on its middle slice) it runs, on the CPU and with the same weights:

- the reference: MedSAM2's published procedure written on its own (bench/reference.py: its own
  8-bit conversion, sam2's legacy video predictor, its own largest-component step);
- the engine with early stop off (must agree with the reference: Dice >= 0.99);
- the engine with early stop on (goal: >= 3x faster than the reference).

Where the model tracks the lesion: a config with a target crop (the starter's) runs the engine
with its crop and the reference on the same square; other configs run on whole slices. The bench
says which. Every speed figure is printed beside its Dice against the truth.

With CUDA present it also times the engine on medsam2_t512 (Hiera-T 512) in bf16 (the given
checkpoint when its config is medsam2_t512, else seeded random weights: speed does not depend on
the weights, Dice does). Without --checkpoint the CPU part uses seeded random weights, which
cannot track a lesion, so its speed-up says little. Ends with one JSON line of figures
(``dice_vs_reference``, ``cpu_speedup_early_stop``, ``gpu_slices_per_s`` (null without a GPU),
and the Dice against the truth of the early-stopped engine and of the reference).
"""

from __future__ import annotations

import os

os.environ.setdefault("TQDM_DISABLE", "1")  # stock propagate_in_video draws progress bars
# Busy-waiting OpenMP threads slow to a crawl when other jobs share the cores; set before torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import repo_path  # noqa: E402, F401
import torch  # noqa: E402
from scipy import ndimage  # noqa: E402

from bench.reference import reference_segment  # noqa: E402
from inference.checkpoint import LoadedModel, configure_cuda, load_checkpoint  # noqa: E402
from inference.engine import Prompt, SegmentOptions, segment_volume_detailed  # noqa: E402
from inference.metrics import dice  # noqa: E402
from inference.model import MEDSAM2, build_model  # noqa: E402
from inference.model import STARTER_LARGE as STARTER  # noqa: E402
from inference.preprocess import intensity_rule  # noqa: E402

WINDOW = "abdomen"


def ct_volume(
    depth: int = 64, size: int = 512, lesion_slices: int = 10, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(int16 HU volume, uint8 lesion mask): body, liver-like organ, noise, one lesion."""
    rng = np.random.default_rng(seed)
    z, y, x = np.ogrid[:depth, :size, :size]
    yy, xx = (y - size / 2) / size, (x - size / 2) / size
    body = (yy / 0.38) ** 2 + (xx / 0.45) ** 2 < 1.0
    fat = body & ((yy / 0.35) ** 2 + (xx / 0.42) ** 2 >= 1.0)
    organ = ((yy + 0.02) / 0.2) ** 2 + ((xx + 0.15) / 0.22) ** 2 + (
        (z - depth / 2) / depth
    ) ** 2 < 1
    volume = np.full((depth, size, size), -1000.0, dtype=np.float32)
    volume[np.broadcast_to(body, volume.shape)] = 35.0
    volume[np.broadcast_to(fat, volume.shape)] = -100.0
    volume[organ & body] = 60.0
    spine = ((yy - 0.25) / 0.06) ** 2 + (xx / 0.06) ** 2 < 1.0
    volume[np.broadcast_to(spine, volume.shape)] = 500.0
    # The lesion: a hypodense ellipsoid inside the organ, about lesion_slices slices tall.
    cz, cy, cx = (depth - 1) / 2, size * 0.47, size * 0.36
    rz, ry, rx = lesion_slices / 2, size * 0.055, size * 0.07
    lesion = ((z - cz) / rz) ** 2 + ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 < 1.0
    volume[lesion] = 0.0
    noise = rng.normal(0.0, 12.0, volume.shape).astype(np.float32)
    volume += ndimage.gaussian_filter(noise, sigma=(0, 1, 1)) * 2.0
    return np.round(volume).astype(np.int16), lesion.astype(np.uint8)


def key_box(mask: np.ndarray, margin: int = 5) -> tuple[int, tuple[float, float, float, float]]:
    slices = np.nonzero(mask.any(axis=(1, 2)))[0]
    key = int((slices[0] + slices[-1]) // 2)
    ys, xs = np.nonzero(mask[key])
    h, w = mask.shape[1:]
    box = (
        float(max(0, xs.min() - margin)),
        float(max(0, ys.min() - margin)),
        float(min(w, xs.max() + 1 + margin)),
        float(min(h, ys.max() + 1 + margin)),
    )
    return key, box


def random_model(config: str, device: str, seed: int = 0) -> LoadedModel:
    torch.manual_seed(seed)
    model = build_model(config, device).eval()
    return LoadedModel(model, config, "random", torch.device(device), int(model.image_size))


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def cpu_comparison(loaded: LoadedModel, volume, truth, key, box, patience, repeats) -> dict:
    """Engine (early stop off and on) against the reference, timed and scored against the truth.

    Where the model tracks the lesion: a config with a target crop runs the engine with it and
    the reference on the same square (bench/reference.py ``crop``); otherwise whole slices.
    """
    prompts = [Prompt(key, box=box)]
    off = SegmentOptions(window=WINDOW, early_stop_patience=None)
    on = SegmentOptions(window=WINDOW, early_stop_patience=patience)
    _, probe = segment_volume_detailed(loaded, volume, "CT", prompts, off)
    region = probe.region
    crop = None if region is None else (region.y0, region.x0, region.side)
    where = (
        "whole slices" if crop is None else f"target crop {region.side}px (engine and reference)"
    )
    print(f"  measured on: {where}")
    runs = {
        "reference": lambda: (
            reference_segment(loaded, volume, "CT", key, box, window=WINDOW, crop=crop)[0],
            None,
        ),
        "engine_no_stop": lambda: segment_volume_detailed(loaded, volume, "CT", prompts, off),
        "engine_early_stop": lambda: segment_volume_detailed(loaded, volume, "CT", prompts, on),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    outputs = {}
    for _ in range(repeats):  # interleaved, best of N: other jobs share these CPUs
        for name, run in runs.items():
            seconds, outputs[name] = timed(run)
            times[name].append(seconds)
    best = {name: min(ts) for name, ts in times.items()}
    ref = outputs["reference"][0]
    truth_dice = {name: dice(mask, truth) for name, (mask, _) in outputs.items()}
    for name, seconds in best.items():
        result = outputs[name][1]
        steps = (
            ""
            if result is None
            else (
                f", visited {len(result.visited['forward'])}+{len(result.visited['reverse'])}, "
                f"encoded {len(result.encoded_frames)}"
            )
        )
        print(
            f"  {name:18s} {seconds:7.2f} s  Dice vs truth {truth_dice[name]:.4f}  "
            f"speed-up {best['reference'] / seconds:5.2f}x{steps}"
        )
    mask_off, mask_on = outputs["engine_no_stop"][0], outputs["engine_early_stop"][0]
    print(
        f"  mask voxels: truth {int(truth.sum())}, reference {int(ref.sum())}, "
        f"no stop {int(mask_off.sum())}, early stop {int(mask_on.sum())}; "
        f"early stop vs reference Dice {dice(mask_on, ref):.4f}"
    )
    return {
        "dice_vs_reference": dice(mask_off, ref),
        "cpu_speedup_early_stop": best["reference"] / best["engine_early_stop"],
        "dice_vs_truth_early_stop": truth_dice["engine_early_stop"],
        "dice_vs_truth_reference": truth_dice["reference"],
        "measured_on": where,
    }


def gpu_slices_per_s(checkpoint: str | None, config: str, volume, truth, key, box) -> float | None:
    """Slices per second of the engine on Hiera-T 512 (medsam2_t512) in bf16; None without CUDA."""
    if not torch.cuda.is_available():
        return None
    if checkpoint and config == MEDSAM2:
        loaded = load_checkpoint(checkpoint, MEDSAM2, device="cuda")
    else:
        loaded = random_model(MEDSAM2, "cuda")
        configure_cuda()  # load_checkpoint does this for a checkpoint
    prompts = [Prompt(key, box=box)]
    options = SegmentOptions(window=WINDOW, early_stop_patience=None, target_crop=False)
    segment_volume_detailed(loaded, volume, "CT", prompts, options)  # warm-up
    torch.cuda.synchronize()
    seconds, (mask, result) = timed(
        lambda: segment_volume_detailed(loaded, volume, "CT", prompts, options)
    )
    torch.cuda.synchronize()
    frames = len(result.visited["forward"]) + len(result.visited["reverse"])
    weights = "given" if checkpoint and config == MEDSAM2 else "RANDOM (Dice means nothing)"
    print(
        f"  GPU {torch.cuda.get_device_name()}: {frames} slice steps in {seconds:.3f} s (bf16), "
        f"{volume.shape[0] / seconds:.1f} slices/s, Dice vs truth {dice(mask, truth):.4f}, "
        f"{weights} weights"
    )
    return volume.shape[0] / seconds


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=None, help="MedSAM2-format checkpoint")
    parser.add_argument("--config", default=STARTER, help=f"its config (default {STARTER})")
    parser.add_argument("--depth", type=int, default=64)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--lesion-slices", type=int, default=10)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gpu-only", action="store_true", help="skip the CPU comparison")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    volume, truth = ct_volume(args.depth, args.size, args.lesion_slices, args.seed)
    key, box = key_box(truth)
    lesion_span = int(truth.any(axis=(1, 2)).sum())
    print(f"volume {volume.shape}, lesion on {lesion_span} slices, key slice {key}, box {box}")
    cpu: dict = {}
    if not args.gpu_only:
        if args.checkpoint:
            loaded = load_checkpoint(args.checkpoint, args.config, device="cpu")
            print(f"CPU model: {args.config} from {args.checkpoint} (sha256 {loaded.sha256[:12]})")
        else:
            loaded = random_model(args.config, "cpu", args.seed)
            print(f"CPU model: {args.config} with RANDOM weights (no --checkpoint): speed-up moot")
        print(f"  its 8-bit rule: {intensity_rule(args.config)} (the reference's: official)")
        cpu = cpu_comparison(loaded, volume, truth, key, box, args.patience, args.repeats)
        del loaded
    gpu = gpu_slices_per_s(args.checkpoint, args.config, volume, truth, key, box)

    def rounded(key: str, digits: int):
        return round(cpu[key], digits) if key in cpu else None

    figures = {
        "dice_vs_reference": rounded("dice_vs_reference", 4),
        "cpu_speedup_early_stop": rounded("cpu_speedup_early_stop", 2),
        "gpu_slices_per_s": None if gpu is None else round(gpu, 1),
        "dice_vs_truth_early_stop": rounded("dice_vs_truth_early_stop", 4),
        "dice_vs_truth_reference": rounded("dice_vs_truth_reference", 4),
        "cpu_measured_on": cpu.get("measured_on"),
    }
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
