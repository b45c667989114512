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
frame is SAM2's: 20 x focal + 1 x dice on the best of the predicted masks, 1 x cross-entropy
between the predicted and the real IoU of every mask (SAM2 uses L1, which a saturated IoU head
cannot learn from: :mod:`inference.train_loss`), and 1 x object-score BCE (mask terms only count
on frames where the object is present). bf16 autocast on CUDA, fp32 on the CPU. ``lr_ratios``
slows or freezes parts by name (a round's object-score head, :mod:`inference.replay`); ``invert``
flips the intensities of that share of clips and ``distill`` holds the image encoder's features
on trusted items' frames near the starting model's (bench experiments, off in the recipe).

Resumable: every ``checkpoint_every`` steps the model, optimizer and step are written atomically
to ``run_dir/last.pt`` (the random state needs no saving: it is derived from the step); calling
:func:`train` again with the same run_dir, config and items (``data_fingerprint``) resumes from
there (a killed worker loses at most ``checkpoint_every`` steps); anything else starts afresh.
Sampling is seeded by ``(seed, step)`` (clips, augmentation and dropout), so a resumed run ends
with the same weights as an uninterrupted one. The number of steps is the config's, never a time
budget; the ETA passed to ``progress`` is the mean duration of the last ``ETA_WINDOW`` steps
times the steps left.

Data-parallel (several GPUs, several machines): when a ``torch.distributed`` process group is
initialised (``torchrun``; :mod:`inference.train_dist` is the command line), every rank draws the
step's whole global batch of ``batch_size`` clips from the step's generator, exactly as one
process would, and trains on its own slice of it (``batch_size / world_size`` clips) in a
``DistributedDataParallel`` wrapper that averages the gradients; the loss is a mean over the
batch, so the averaged gradient is the one-process gradient up to floating-point order. Rank 0
alone polls ``should_stop``, reports ``progress`` and writes checkpoints and the model (to the
shared ``run_dir``); every rank resumes from the same ``last.pt``. Without a process group
nothing changes (no wrapper, no collective).

Layout: :mod:`inference.train_data` (items, clip sampling, batches), :mod:`inference.train_loss`
(the loss), this module (config, optimizer, schedule and the resumable loop); sam2's private
tracking step is in :mod:`inference.sam2_adapter`. The names other code imports from here
(``TrainItem``, ``TrainingError``, ``LOSS_WEIGHTS``, ``clip_loss``) stay importable from here.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

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
from inference.preprocess import intensity_rule
from inference.train_data import (
    PreparedItem,
    TrainingError,
    TrainItem,
    data_fingerprint,
    make_batch,
)
from inference.train_loss import LOSS_WEIGHTS, clip_loss, feature_drift

__all__ = [
    "LOSS_WEIGHTS",
    "MODEL_FILE",
    "RESUME_FILE",
    "TrainConfig",
    "TrainItem",
    "TrainResult",
    "TrainingError",
    "clip_loss",
    "lr_factor",
    "train",
]

Progress = Callable[[int, int, float, float], None]  # step, total, loss, eta seconds
ETA_WINDOW = 20  # the ETA is the mean of the last steps' durations: it follows the load
DISTILL_FRAMES = 2  # consecutive frames per clip of the distillation batch

RESUME_FILE = "last.pt"
MODEL_FILE = "model.pt"


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
    # L2-SP: each step adds anchor * (w - w0) to every gradient, w0 the init_checkpoint's weights,
    # so fine-tuning stays near the production model (0: off; without init_checkpoint: unused).
    anchor: float = 0.0
    # Parameter-name prefix -> multiplier of its group's lr (0: frozen), e.g. a round's slower
    # object-score head (inference/replay.py says why).
    lr_ratios: dict[str, float] = field(default_factory=dict)
    invert: float = 0.0  # probability that a clip's intensities are inverted (augmentation)
    # Feature distillation: each step adds distill x the drift of the image encoder's features
    # from the init_checkpoint's on DISTILL_FRAMES frames per clip of trusted items (TrainItem;
    # 0 or no trusted item: off). Unlike anchor it leaves the encoder free where it holds no
    # knowledge worth keeping (inference/replay.py).
    distill: float = 0.0

    def fingerprint(self) -> str:
        """Identifies a run for resuming (device and checkpoint cadence may change)."""
        keep = {k: v for k, v in asdict(self).items() if k not in {"device", "checkpoint_every"}}
        # Runs saved before these fields existed resume as before.
        for added in ("anchor", "lr_ratios", "invert", "distill"):
            if not keep[added]:
                del keep[added]
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


def _optimizer(model, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW with the image encoder at ``encoder_lr``, the rest at ``lr``, and the parts named
    in ``lr_ratios`` at their multiple of it (the longest matching prefix wins)."""
    for ratio in config.lr_ratios.values():
        if not (math.isfinite(ratio) and ratio >= 0):
            raise TrainingError(f"lr ratios must be finite and non-negative, not {ratio}")
    groups: dict[tuple[bool, float], list] = {(True, 1.0): [], (False, 1.0): []}
    used: set[str] = set()
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        matches = [p for p in config.lr_ratios if name.startswith(p)]
        ratio = config.lr_ratios[max(matches, key=len)] if matches else 1.0
        used.update(matches)
        groups.setdefault((name.startswith("image_encoder."), ratio), []).append(param)
    if unknown := sorted(set(config.lr_ratios) - used):  # a typo would silently do nothing
        raise TrainingError(f"lr_ratios name no parameter of the model: {', '.join(unknown)}")
    return torch.optim.AdamW(
        [{"params": params, "lr": lr, "base_lr": lr}
         for (encoder, ratio), params in groups.items()
         for lr in [(config.encoder_lr if encoder else config.lr) * ratio]],
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


def _save_resume(
    path: Path, model, optimizer, step: int, config: TrainConfig, history, data: str
) -> None:
    state = {
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "step": step,
        "fingerprint": config.fingerprint(),
        "data": data,
        "history": history,
    }
    atomic_save(state, path)


class _ClipLoss(torch.nn.Module):
    """The model and its loss as one module, so that DistributedDataParallel sees the forward
    (sam2 is driven through private methods, not ``forward``) and finds the parameters a step
    leaves unused (``find_unused_parameters``)."""

    def __init__(
        self,
        model: torch.nn.Module,
        weights: dict[str, float],
        teacher: torch.nn.Module | None = None,
        distill: float = 0.0,
    ):
        super().__init__()
        self.model, self.weights, self.distill = model, weights, distill
        self._teacher = [teacher]  # in a list: not a submodule (frozen; DDP must not see it)

    def forward(self, frames, masks, boxes, distill_frames=None):
        loss = clip_loss(self.model, frames, masks, boxes, self.weights)
        if distill_frames is not None:
            drift = feature_drift(self.model.image_encoder, self._teacher[0], distill_frames)
            loss = loss + self.distill * drift
        return loss


@dataclass(frozen=True)
class _Group:
    """This process's place in the torch.distributed process group."""

    rank: int
    world: int
    device: torch.device  # where collectives run (CUDA for nccl)

    def all_mean(self, value: torch.Tensor) -> torch.Tensor:
        total = value.detach().float().reshape(1).to(self.device)
        torch.distributed.all_reduce(total)
        return total[0] / self.world

    def from_rank0(self, flag: bool) -> bool:
        box = torch.tensor([1 if flag else 0], device=self.device)
        torch.distributed.broadcast(box, src=0)
        return bool(box.item())

    def same(self, value: int, what: str) -> None:
        both = torch.tensor([value, -value], device=self.device)
        torch.distributed.all_reduce(both, op=torch.distributed.ReduceOp.MAX)
        if int(both[0]) != -int(both[1]):
            raise TrainingError(f"the ranks disagree on the {what} (is run_dir shared?)")


def _process_group(config: TrainConfig) -> tuple[_Group | None, torch.device]:
    """(None, the config's device) without a process group; with one, the rank's device:
    ``cuda:LOCAL_RANK`` on CUDA (one GPU per process, as torchrun starts them), else the CPU."""
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        return None, pick_device(config.device)
    device = pick_device(config.device)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    group = _Group(dist.get_rank(), dist.get_world_size(), device)
    if config.batch_size % group.world:
        raise TrainingError(
            f"batch_size {config.batch_size} must be a multiple of the {group.world} processes"
        )
    return group, device


def _sampler(preps: Sequence[PreparedItem]):
    """Which items a step's clips come from: uniform (the draw every run made before item
    weights existed, so such runs are unchanged) unless the items carry different weights."""
    weights = np.array([p.weight for p in preps], dtype=np.float64)
    if not np.all(np.isfinite(weights)) or (weights < 0).any() or weights.sum() <= 0:
        raise TrainingError("item weights must be finite, non-negative and not all zero")
    if np.allclose(weights, weights[0]):
        return lambda rng, n: rng.integers(0, len(preps), n)
    p = weights / weights.sum()
    return lambda rng, n: rng.choice(len(preps), size=n, p=p)


def _pull_toward(model: torch.nn.Module, anchors: list[torch.Tensor], strength: float) -> None:
    with torch.no_grad():
        for param, anchor in zip(model.parameters(), anchors, strict=True):
            if not param.requires_grad:
                continue
            if param.grad is None:
                param.grad = torch.zeros_like(param)
            param.grad.add_(param - anchor, alpha=strength)


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
    if not 0 <= config.invert <= 1:
        raise TrainingError(f"invert is a probability, not {config.invert}")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    out_path = Path(out_path) if out_path else run_dir / MODEL_FILE
    ranks, device = _process_group(config)
    main = ranks is None or ranks.rank == 0
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
    intensity = intensity_rule(str(config.model_config))  # the rule the engine will use
    preps = [PreparedItem(item, size, context, intensity) for item in items]
    preps = [p for p in preps if p.present.size]
    if not preps:
        raise TrainingError("no training item has a non-empty mask")
    optimizer = _optimizer(model, config)
    anchors = None
    if config.anchor > 0 and init_checkpoint is not None:  # before a resume overwrites them
        anchors = [p.detach().clone() for p in model.parameters()]
    draw = _sampler(preps)
    trusted = [p for p in preps if p.trusted]
    teacher = None
    if config.distill > 0 and trusted and init_checkpoint is not None:  # before a resume
        teacher = copy.deepcopy(model.image_encoder).eval().requires_grad_(False)
        draw_trusted = _sampler(trusted)
    loss_module = _ClipLoss(model, config.loss_weights, teacher, config.distill)

    step, history, resumed_from = 0, [], 0
    data = data_fingerprint(items)
    resume_path = run_dir / RESUME_FILE
    if resume_path.exists():
        saved = torch.load(resume_path, map_location="cpu", weights_only=False)
        # A state saved before the data fingerprint (no "data") resumes as it did then.
        if saved.get("fingerprint") == config.fingerprint() and saved.get("data", data) == data:
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            step = resumed_from = int(saved["step"])
            history = [tuple(h) for h in saved.get("history", [])]
    net = None
    if ranks is not None:
        ranks.same(step, "step to resume from")
        net = torch.nn.parallel.DistributedDataParallel(
            loss_module,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True,
        )
        share = slice(ranks.rank * config.batch_size // ranks.world,
                      (ranks.rank + 1) * config.batch_size // ranks.world)  # fmt: skip

    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if device.type == "cuda"
        else contextlib.nullcontext()
    )
    recent: collections.deque[float] = collections.deque(maxlen=ETA_WINDOW)
    loss_value = history[-1][1] if history else None
    while step < config.steps:
        step_started = time.monotonic()
        stop = main and should_stop is not None and should_stop()
        if ranks is not None:
            stop = ranks.from_rank0(stop)
        if stop:
            if main:
                _save_resume(resume_path, model, optimizer, step, config, history, data)
            if ranks is not None:
                torch.distributed.barrier()
            return TrainResult("cancelled", step, config.steps, run_dir, None, loss_value,
                               resumed_from, history)  # fmt: skip
        rng = np.random.default_rng([config.seed, step])
        torch.manual_seed(config.seed * 1_000_003 + step)  # dropout too: a resumed run matches
        factor = lr_factor(step, config)
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        indices = draw(rng, config.batch_size)
        frames, masks, boxes = make_batch(
            preps, indices, config.clip_len, config.box_jitter, rng, config.invert
        )
        held = None  # drawn after the batch: a run without distillation samples as before
        if teacher is not None:
            held, _, _ = make_batch(trusted, draw_trusted(rng, config.batch_size),
                                    DISTILL_FRAMES, 0.0, rng)  # fmt: skip
        if net is None:
            mine = None if held is None else held.flatten(0, 1).to(device)
            with autocast:
                loss = loss_module(frames.to(device), masks, boxes, mine)
            batch_loss = loss
        else:  # this rank's slice of the global batch; DDP averages the gradients
            mine = None if held is None else held[:, share].flatten(0, 1).to(device)
            with autocast:
                loss = net(frames[:, share].to(device), masks[:, share], boxes[share], mine)
            batch_loss = ranks.all_mean(loss)  # the global batch's loss, on every rank
        if not torch.isfinite(batch_loss):
            raise TrainingError(f"the loss became {batch_loss.item()} at step {step}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if anchors is not None:  # after DDP's all-reduce: the same pull on every rank
            _pull_toward(model, anchors, config.anchor)
        if config.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        step += 1
        loss_value = float(batch_loss.detach())
        history.append((step, loss_value))
        if main and step % config.checkpoint_every == 0 and step < config.steps:
            _save_resume(resume_path, model, optimizer, step, config, history, data)
        recent.append(time.monotonic() - step_started)
        if main and progress is not None:
            rate = sum(recent) / len(recent)
            progress(step, config.steps, loss_value, rate * (config.steps - step))

    if main:
        save_checkpoint(model, out_path)
        with contextlib.suppress(FileNotFoundError):
            resume_path.unlink()
    if ranks is not None:
        torch.distributed.barrier()  # the model is written before any rank returns
    return TrainResult("finished", step, config.steps, run_dir, out_path, loss_value,
                       resumed_from, history)  # fmt: skip
