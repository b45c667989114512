"""Fine-tune a SAM2-architecture model on clips of consecutive slices/frames (MedSAM2's recipe).

Usage (a training round and ``bootstrap_model`` call exactly this)::

    from inference.train import TrainConfig, TrainItem, train

    items = [TrainItem(image=volume, mask=mask, modality="CT", window="abdomen"), ...]
    result = train(items, TrainConfig(model_config="starter_s256", steps=500), run_dir,
                   init_checkpoint="production.pt", progress=cb, should_stop=cancelled)
    result.model_path  # {"model": state_dict}, loadable by inference.checkpoint.load_checkpoint

The recipe (DESIGN.md): the full model is trained with AdamW, lr 5e-5 and 3e-5 for
``image_encoder.*``, weight decay 0.1, cosine decay to lr/10 (after a short warm-up), on clips of
``clip_len`` consecutive slices/frames with a box prompt (from the mask, jittered) on the clip's
first frame; the rest of the clip is tracked through SAM2's memory, as at inference. A clip is
played forwards or backwards at random, so both propagation directions are learnt. The loss per
frame is SAM2's: 20 x focal + 1 x dice on the best of the predicted masks, 1 x L1 between the
predicted and the real IoU of every mask, and 1 x object-score BCE (mask terms only count on frames
where the object is present). bf16 autocast on CUDA, fp32 on the CPU.

Resumable: every ``checkpoint_every`` steps the model, optimizer and step are written atomically
to ``run_dir/last.pt``; calling :func:`train` again with the same run_dir and config resumes from
there (a killed worker loses at most ``checkpoint_every`` steps). Sampling is seeded by
``(seed, step)`` (clips, augmentation and dropout), so a resumed run ends with the same weights
as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from inference import roi
from inference.checkpoint import (
    CheckpointError,
    atomic_save,
    check_state_dict,
    pick_device,
    read_state_dict,
    save_checkpoint,
)
from inference.model import build_model, config_path
from inference.phantoms import mask_box
from inference.preprocess import IMAGENET_MEAN, IMAGENET_STD, Window, to_uint8

Progress = Callable[[int, int, float, float], None]  # step, total, loss, eta seconds

LOSS_WEIGHTS = {"focal": 20.0, "dice": 1.0, "iou": 1.0, "object": 1.0}
RESUME_FILE = "last.pt"
MODEL_FILE = "model.pt"


class TrainingError(Exception):
    """Training cannot run (bad data, bad config, a checkpoint that does not match)."""


@dataclass
class TrainItem:
    image: np.ndarray  # (D, H, W) volume (raw units) or (T, H, W) uint8 clip
    mask: np.ndarray  # (D, H, W) 0/1
    modality: str = "CT"
    window: Window | None = None
    label: str = ""
    is_video: bool = False


@dataclass
class TrainConfig:
    model_config: str = "starter_s256"
    steps: int = 500
    batch_size: int = 1
    clip_len: int = 8
    lr: float = 5e-5
    encoder_lr: float = 3e-5
    weight_decay: float = 0.1
    warmup_steps: int = 0
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    box_jitter: float = 0.05  # sd of each box edge's shift, as a fraction of the box side
    loss_weights: dict[str, float] = field(default_factory=lambda: dict(LOSS_WEIGHTS))
    device: str = "cpu"
    seed: int = 0
    checkpoint_every: int = 50

    def fingerprint(self) -> str:
        """Identifies a run for resuming (device and checkpoint cadence may change)."""
        keep = {k: v for k, v in asdict(self).items() if k not in {"device", "checkpoint_every"}}
        return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class TrainResult:
    status: str  # "finished" or "cancelled"
    step: int
    total_steps: int
    run_dir: Path
    model_path: Path | None
    final_loss: float | None
    resumed_from: int = 0
    history: list[tuple[int, float]] = field(default_factory=list)


# ------------------------------------------------------------------------------------ data


class _Prepared:
    """One item as uint8 frames (N, C, S, S) and masks (N, S, S) bool at model resolution S.

    With a target crop (``roi_context``, volumes only) it keeps the native slices instead, and
    every clip is cropped around the target and resized when it is drawn (:func:`_zoom`).
    """

    def __init__(self, item: TrainItem, size: int, roi_context: float | None = None):
        image, mask = np.asarray(item.image), np.asarray(item.mask)
        if image.ndim == 4 and image.shape[-1] == 3 and image.dtype == np.uint8:
            pixels = image
        elif image.ndim == 3:
            pixels = image if image.dtype == np.uint8 and item.is_video else None
            if pixels is None:
                pixels = to_uint8(image, "US" if item.is_video else item.modality, item.window)
        else:
            raise TrainingError(f"an item's image must be (D, H, W), got {image.shape}")
        if mask.shape != pixels.shape[:3]:
            raise TrainingError(f"mask {mask.shape} does not match image {pixels.shape[:3]}")
        frames = torch.from_numpy(np.ascontiguousarray(pixels))
        frames = frames.unsqueeze(1) if frames.ndim == 3 else frames.permute(0, 3, 1, 2)
        masks = torch.from_numpy(mask > 0)
        self.size = size
        self.roi_context = None if item.is_video else roi_context
        if self.roi_context is None:
            frames, masks = _resize(frames, masks, size)
        self.frames, self.masks = frames, masks  # (N, C, ., .) uint8, (N, ., .) bool
        areas = self.masks.flatten(1).sum(dim=1).numpy()
        self.present = np.flatnonzero(areas)
        self.key = int(np.argmax(areas))  # where an annotator would put the box
        self.is_video = item.is_video
        if self.roi_context is not None:  # the annotator's box, around which the engine crops
            self.key_box = mask_box(self.masks[self.key].numpy())


def _resize(frames: torch.Tensor, masks: torch.Tensor, size: int):
    """uint8 (N, C, h, w) frames and bool (N, h, w) masks at (size, size)."""
    if frames.shape[-2:] == (size, size):
        return frames, masks
    x = F.interpolate(frames.float(), size=(size, size), mode="bicubic", align_corners=False)
    m = F.interpolate(masks.float().unsqueeze(1), size=(size, size), mode="bilinear",
                      align_corners=False)  # fmt: skip
    return x.clamp(0, 255).round().to(torch.uint8), m[:, 0] >= 0.5


def _zoom(prep: _Prepared, frames, masks, rng: np.random.Generator):
    """Crop a clip as the engine would around an annotator's box on the key slice (box, zoom
    and centre jittered), then resize it to the model's input."""
    x0, y0, x1, y1 = prep.key_box
    jitter = rng.normal(0.0, 0.05, 4) * np.array([x1 - x0, y1 - y0] * 2)
    bounds = (x0 + jitter[0], y0 + jitter[1], x1 + jitter[2], y1 + jitter[3])
    context = prep.roi_context * float(np.exp(rng.uniform(np.log(0.75), np.log(4 / 3))))
    height, width = frames.shape[-2:]
    region = roi.plan(bounds, height, width, context, shift=tuple(rng.normal(0.0, 0.05, 2)))
    if region is not None:
        rows, cols = region.slices
        if masks[0, rows, cols].any():  # the prompt frame must still show the target
            frames, masks = frames[..., rows, cols], masks[:, rows, cols]
    return _resize(frames, masks, prep.size)


def _clip(prep: _Prepared, clip_len: int, rng: np.random.Generator):
    """Frames (T, C, S, S) uint8 and masks (T, S, S) of a clip whose first frame shows the object.

    Volumes mostly start near the largest cross-section (where the prompt goes at inference) and
    run towards one end, so the clip sees the object shrink and vanish as propagation does.
    """
    n = prep.frames.shape[0]
    start = int(rng.choice(prep.present))
    if not prep.is_video and rng.random() < 0.7:
        # Mostly as at inference: from near the largest cross-section outwards to the tip.
        spread = max(1, round(0.25 * prep.present.size / 2))
        near = prep.key + int(rng.integers(-spread, spread + 1))
        if near in prep.present:
            start = near
    backwards = bool(rng.integers(2)) and start > 0
    if backwards:
        idx = np.arange(start, max(-1, start - clip_len), -1)
    else:
        idx = np.arange(start, min(n, start + clip_len))
    while idx.size < clip_len:  # short volumes: hold the last frame
        idx = np.append(idx, idx[-1])
    if prep.roi_context is not None:
        return _zoom(prep, prep.frames[idx], prep.masks[idx], rng)
    return prep.frames[idx], prep.masks[idx]


def _augment(frames: torch.Tensor, masks: torch.Tensor, rng: np.random.Generator):
    if rng.random() < 0.5:
        frames, masks = frames.flip(-1), masks.flip(-1)
    if rng.random() < 0.3:
        frames, masks = frames.flip(-2), masks.flip(-2)
    x = frames.float() / 255.0
    if rng.random() < 0.5:  # contrast/brightness/gamma, as a different scanner might give
        gamma = float(np.exp(rng.normal(0.0, 0.2)))
        x = (x.clamp(0, 1) ** gamma) * float(rng.uniform(0.85, 1.15)) + float(rng.normal(0, 0.04))
    return x.clamp(0, 1), masks


def _box(mask: torch.Tensor, jitter: float, rng: np.random.Generator) -> list[float]:
    ys, xs = torch.nonzero(mask, as_tuple=True)
    x0, x1 = float(xs.min()), float(xs.max()) + 1.0
    y0, y1 = float(ys.min()), float(ys.max()) + 1.0
    w, h = x1 - x0, y1 - y0
    size = mask.shape[-1]
    sx, sy = rng.normal(0.0, jitter * w, 2), rng.normal(0.0, jitter * h, 2)
    x0, x1 = sorted((x0 + sx[0], x1 + sx[1]))
    y0, y1 = sorted((y0 + sy[0], y1 + sy[1]))
    return [max(0.0, x0), max(0.0, y0), min(float(size), max(x1, x0 + 1)),
            min(float(size), max(y1, y0 + 1))]  # fmt: skip


def _batch(preps, indices, config: TrainConfig, rng):
    """(T, B, 3, S, S) normalised frames, (T, B, S, S) masks, (B, 4) boxes."""
    frames, masks, boxes = [], [], []
    for i in indices:
        f, m = _clip(preps[i], config.clip_len, rng)
        x, m = _augment(f, m, rng)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        frames.append(x)
        masks.append(m)
        boxes.append(_box(m[0], config.box_jitter, rng))
    mean = torch.tensor(IMAGENET_MEAN).view(1, 1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 1, 3, 1, 1)
    x = (torch.stack(frames, dim=1) - mean) / std
    return x, torch.stack(masks, dim=1), torch.tensor(boxes, dtype=torch.float32)


# ------------------------------------------------------------------------------------ model


def _forward_clip(model, frames: torch.Tensor, boxes: torch.Tensor):
    """Track a batch of clips from a box on frame 0. Yields per frame what the loss needs."""
    steps, batch = frames.shape[:2]
    flat = frames.reshape(steps * batch, *frames.shape[2:])
    backbone = model.forward_image(flat)
    _, feats, pos, sizes = model._prepare_backbone_features(backbone)
    output_dict = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
    point_inputs = {
        "point_coords": boxes.view(batch, 2, 2).to(frames.device),
        "point_labels": torch.tensor([[2, 3]], dtype=torch.int32, device=frames.device).expand(
            batch, 2
        ),
    }
    outs = []
    for t in range(steps):
        sl = slice(t * batch, (t + 1) * batch)
        cur_feats = [f[:, sl].contiguous() for f in feats]
        cur_pos = [p[:, sl].contiguous() for p in pos]
        is_cond = t == 0
        current_out, sam_outputs, _, _ = model._track_step(
            frame_idx=t,
            is_init_cond_frame=is_cond,
            current_vision_feats=cur_feats,
            current_vision_pos_embeds=cur_pos,
            feat_sizes=sizes,
            point_inputs=point_inputs if is_cond else None,
            mask_inputs=None,
            output_dict=output_dict,
            num_frames=steps,
            track_in_reverse=False,
            prev_sam_mask_logits=None,
        )
        _, high_multi, ious, low_masks, high_masks, obj_ptr, obj_logits = sam_outputs
        current_out["pred_masks"] = low_masks
        current_out["pred_masks_high_res"] = high_masks
        current_out["obj_ptr"] = obj_ptr
        current_out["object_score_logits"] = obj_logits
        model._encode_memory_in_output(
            cur_feats, sizes, point_inputs if is_cond else None, True, high_masks, obj_logits,
            current_out,
        )  # fmt: skip
        key = "cond_frame_outputs" if is_cond else "non_cond_frame_outputs"
        output_dict[key][t] = current_out
        outs.append((high_multi, ious, obj_logits))
    return outs


def _frame_loss(
    high_multi, ious, obj_logits, target: torch.Tensor, weights: dict[str, float] = LOSS_WEIGHTS
) -> dict[str, torch.Tensor]:
    """SAM2's multi-mask loss for one frame of the batch; ``target`` (B, S, S) bool."""
    logits = high_multi.float()  # (B, M, S, S)
    if logits.shape[-2:] != target.shape[-2:]:
        logits = F.interpolate(logits, size=target.shape[-2:], mode="bilinear", align_corners=False)
    tgt = target.float().unsqueeze(1).expand_as(logits)
    prob = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, tgt, reduction="none")
    p_t = prob * tgt + (1 - prob) * (1 - tgt)
    alpha_t = 0.25 * tgt + 0.75 * (1 - tgt)
    focal = (alpha_t * ce * (1 - p_t) ** 2).flatten(2).mean(-1)  # (B, M)
    inter = (prob * tgt).flatten(2).sum(-1)
    dice = 1 - (2 * inter + 1) / (prob.flatten(2).sum(-1) + tgt.flatten(2).sum(-1) + 1)
    combined = weights["focal"] * focal + weights["dice"] * dice
    best = combined.argmin(dim=1, keepdim=True)
    hard = logits > 0
    real_iou = (hard & (tgt > 0)).flatten(2).sum(-1).float() / (
        (hard | (tgt > 0)).flatten(2).sum(-1).float().clamp(min=1)
    )
    iou_l1 = (ious.float() - real_iou).abs().mean(dim=1, keepdim=True)  # all masks (SAM2.1)
    present = target.flatten(1).any(dim=1).float()  # (B,)
    pick = lambda x: x.gather(1, best).squeeze(1)  # noqa: E731
    obj = F.binary_cross_entropy_with_logits(obj_logits.float().view(-1), present, reduction="none")
    return {
        "focal": (pick(focal) * present).mean(),
        "dice": (pick(dice) * present).mean(),
        "iou": (iou_l1.squeeze(1) * present).mean(),
        "object": obj.mean(),
    }


def clip_loss(model, frames, masks, boxes, weights=LOSS_WEIGHTS) -> torch.Tensor:
    total = frames.new_zeros(())
    outs = _forward_clip(model, frames, boxes)
    for (high_multi, ious, obj_logits), target in zip(outs, masks, strict=True):
        parts = _frame_loss(high_multi, ious, obj_logits, target.to(frames.device), weights)
        total = total + sum(weights[k] * v for k, v in parts.items())
    return total / len(outs)


# ------------------------------------------------------------------------------------ loop


def _optimizer(model, config: TrainConfig) -> torch.optim.Optimizer:
    encoder, rest = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (encoder if name.startswith("image_encoder.") else rest).append(param)
    return torch.optim.AdamW(
        [{"params": encoder, "lr": config.encoder_lr, "base_lr": config.encoder_lr},
         {"params": rest, "lr": config.lr, "base_lr": config.lr}],
        weight_decay=config.weight_decay,
    )  # fmt: skip


def lr_factor(step: int, config: TrainConfig) -> float:
    """Linear warm-up, then cosine from 1 to ``min_lr_ratio`` over the remaining steps."""
    if config.warmup_steps and step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    span = max(1, config.steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine


def _save_resume(path: Path, model, optimizer, step: int, config: TrainConfig, history) -> None:
    state = {
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "step": step,
        "fingerprint": config.fingerprint(),
        "history": history,
    }
    atomic_save(state, path)


def train(
    items: Sequence[TrainItem],
    config: TrainConfig,
    run_dir: str | Path,
    *,
    init_checkpoint: str | Path | None = None,
    out_path: str | Path | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train (or resume) and write the final ``{"model": state_dict}`` to ``out_path``.

    ``init_checkpoint`` is the model to start from (None: random initialisation, as
    ``bootstrap_model`` does). ``should_stop`` is polled between steps; when it says so the run
    saves its resume state and returns ``status="cancelled"``.
    """
    config_path(config.model_config)
    if config.steps < 1 or config.batch_size < 1 or config.clip_len < 1:
        raise TrainingError("steps, batch_size and clip_len must be at least 1")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    out_path = Path(out_path) if out_path else run_dir / MODEL_FILE
    device = pick_device(config.device)
    torch.manual_seed(config.seed)
    model = build_model(config.model_config, "cpu", training=True)
    if init_checkpoint is not None:
        try:
            state = read_state_dict(init_checkpoint)
            check_state_dict(model, state, source=str(init_checkpoint), config=config.model_config)
        except CheckpointError as exc:
            raise TrainingError(str(exc)) from exc
        model.load_state_dict(state, strict=True)
    model = model.to(device).train()
    size = int(model.image_size)
    context = roi.roi_context(str(config.model_config))
    preps = [_Prepared(item, size, context) for item in items]
    preps = [p for p in preps if p.present.size]
    if not preps:
        raise TrainingError("no training item has a non-empty mask")
    optimizer = _optimizer(model, config)

    step, history, resumed_from = 0, [], 0
    resume_path = run_dir / RESUME_FILE
    if resume_path.exists():
        saved = torch.load(resume_path, map_location="cpu", weights_only=False)
        if saved.get("fingerprint") == config.fingerprint():
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            step = resumed_from = int(saved["step"])
            history = [tuple(h) for h in saved.get("history", [])]

    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if device.type == "cuda"
        else contextlib.nullcontext()
    )
    started, first_step = time.monotonic(), step
    loss_value = history[-1][1] if history else None
    while step < config.steps:
        if should_stop is not None and should_stop():
            _save_resume(resume_path, model, optimizer, step, config, history)
            return TrainResult("cancelled", step, config.steps, run_dir, None, loss_value,
                               resumed_from, history)  # fmt: skip
        rng = np.random.default_rng([config.seed, step])
        torch.manual_seed(config.seed * 1_000_003 + step)  # dropout too: a resumed run matches
        factor = lr_factor(step, config)
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        indices = rng.integers(0, len(preps), config.batch_size)
        frames, masks, boxes = _batch(preps, indices, config, rng)
        with autocast:
            loss = clip_loss(model, frames.to(device), masks, boxes, config.loss_weights)
        if not torch.isfinite(loss):
            raise TrainingError(f"the loss became {loss.item()} at step {step}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        step += 1
        loss_value = float(loss.detach())
        history.append((step, loss_value))
        if step % config.checkpoint_every == 0 and step < config.steps:
            _save_resume(resume_path, model, optimizer, step, config, history)
        if progress is not None:
            rate = (time.monotonic() - started) / max(1, step - first_step)
            progress(step, config.steps, loss_value, rate * (config.steps - step))

    save_checkpoint(model, out_path)
    with contextlib.suppress(FileNotFoundError):
        resume_path.unlink()
    return TrainResult("finished", step, config.steps, run_dir, out_path, loss_value,
                       resumed_from, history)  # fmt: skip
