"""SAM2's training loss over a tracked clip (MedSAM2: focal 20, dice 1, IoU 1, object 1).

One departure from SAM2: the IoU head is scored with a soft-target cross-entropy on its sigmoid
output, not an L1. The L1's gradient at the head's logit is p(1 - p), which vanishes once the
head saturates (the CPU starter's sat at logit -14 and never moved, so every mask looked equally
doubtful and the uncertainty queue fell back to import order); cross-entropy's is p - y. That
gradient stops at the IoU head (``sam2_adapter.track_clip`` detaches its input): let into the
decoder and encoder, it moved the masks, and a CT round lost a third of CT Dice.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from inference.sam2_adapter import track_clip

LOSS_WEIGHTS = {"focal": 20.0, "dice": 1.0, "iou": 1.0, "object": 1.0}


def iou_divergence(predicted: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """KL divergence of the predicted IoU (a probability, post-sigmoid) from the real one: the
    cross-entropy minus the target's entropy, so it is 0 when the head is right. Its gradient at
    the head's logit is predicted - real however saturated the head is."""
    # Written out, not F.binary_cross_entropy: that refuses to run under CUDA autocast, where
    # training calls this. The bounds only bite where float32 has rounded the sigmoid to 0 or 1.
    p = predicted.clamp(min=torch.finfo(torch.float32).tiny, max=1 - 2**-24)
    cross = -(real * p.log() + (1 - real) * (-p).log1p())
    entropy = -(torch.special.xlogy(real, real) + torch.special.xlogy(1 - real, 1 - real))
    return cross - entropy


def frame_loss(
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
    iou_err = iou_divergence(ious.float(), real_iou).mean(dim=1)  # all masks (SAM2.1)
    present = target.flatten(1).any(dim=1).float()  # (B,)
    pick = lambda x: x.gather(1, best).squeeze(1)  # noqa: E731
    obj = F.binary_cross_entropy_with_logits(obj_logits.float().view(-1), present, reduction="none")
    return {
        "focal": (pick(focal) * present).mean(),
        "dice": (pick(dice) * present).mean(),
        "iou": (iou_err * present).mean(),
        "object": obj.mean(),
    }


def clip_loss(model, frames, masks, boxes, weights=LOSS_WEIGHTS) -> torch.Tensor:
    total = frames.new_zeros(())
    outs = track_clip(model, frames, boxes)
    for (high_multi, ious, obj_logits), target in zip(outs, masks, strict=True):
        parts = frame_loss(high_multi, ious, obj_logits, target.to(frames.device), weights)
        total = total + sum(weights[k] * v for k, v in parts.items())
    return total / len(outs)


def feature_drift(encoder, teacher, frames: torch.Tensor) -> torch.Tensor:
    """How far the image encoder's features (every level the decoder reads) have moved from the
    frozen ``teacher``'s on ``frames`` (N, 3, S, S): per frame and level, the squared error
    relative to the teacher's mean square (so levels count alike whatever their scale), averaged
    over both (per frame: data-parallel ranks' shares average to the whole batch's figure)."""
    with torch.no_grad():
        targets = teacher(frames)["backbone_fpn"]
    levels = encoder(frames)["backbone_fpn"]
    drift = [
        (s.float() - t.float()).pow(2).flatten(1).mean(1)
        / t.float().pow(2).flatten(1).mean(1).clamp(min=1e-8)
        for s, t in zip(levels, targets, strict=True)
    ]
    return torch.stack(drift).mean()
