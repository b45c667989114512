"""What a fine-tuning round trains on, and how often it sees each mask (docs/inference.md).

A round trains on every accepted mask of the project so far: the new ones together with a replay
of the earlier ones, so a round never sees only this week's batch. Replay alone is not enough:
when the batches are skewed (one week mostly dark lesions, the next mostly bright ones) the
replayed set is skewed too, and a small model learns "lesions are dark". So clips are drawn with
weights that give every *group* the same share of the steps, whatever its size:

    group = (kind of image, label, appearance)

where the appearance says whether the object is darker or brighter than what surrounds it
(:func:`appearance`); within a group every mask counts the same. The trainer's own regulariser
(``TrainConfig.anchor``) pulls the weights toward the production model's, so what the model did
well before is not traded away for the new batch; the mask decoder learns at
``DECODER_LR_RATIO`` of the rate and its object-score head at ``OBJECT_HEAD_LR_RATIO``. Where
production is already good, its own masks of unopened cases join training as pseudo-labels
(modelops.rounds.pseudo_heads), and every item of such a kind is marked ``trusted``, so that a
round can hold the image encoder's features on it (``TrainConfig.distill``, measured worse: off
in the recipe).
The recipe's figures are in docs/inference.md.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the constants import without torch (the web process reads them)
    from inference.train import TrainConfig
    from inference.train_data import TrainItem

BALANCE = ("none", "kind", "group")  # what the sampling weights equalise; "group" is the recipe
RECIPE_BALANCE = "group"
RECIPE_ANCHOR = 0.0  # TrainConfig.anchor of a round (L2-SP strength toward production weights)
RECIPE_DISTILL = 0.0  # TrainConfig.distill of a round (feature drift on trusted kinds' frames)
# The object-score head (is the object on this frame? it decides how far propagation goes) learns
# at a tenth of the rate: at the full rate one round re-calibrated it so that CT lesions "left"
# after the key slice (docs/inference.md, "Rounds that do not forget").
OBJECT_HEAD_LR_RATIO = 0.1
# The rest of the mask decoder too: with it at the full rate the decoder re-learnt what a lesion
# looks like from each round's handful of masks (docs/inference.md, "Pseudo-labels").
DECODER_LR_RATIO = 0.1
RECIPE_LR = 5e-5  # MedSAM2: 5e-5, and 3e-5 for the image encoder
STARTER_LR = 2e-4  # the small starters move too little at 5e-5 (docs/inference.md, the sweep)
ENCODER_LR_RATIO = 0.6
RING_PX = 3  # the ring around the object that appearance compares with, in pixels


def appearance(image: np.ndarray, mask: np.ndarray) -> str:
    """ "darker" or "brighter": the object's median value against the median of a ring of
    ``RING_PX`` pixels around it, on the slices/frames where it is present (raw units: any
    window or normalisation the engine applies keeps the order)."""
    image, mask = np.asarray(image), np.asarray(mask) > 0
    if image.ndim == 4:  # RGB clip: brightness
        image = image.mean(axis=-1)
    present = np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1))
    if present.size == 0:
        return "empty"
    from scipy import ndimage

    inside, ring = [], []
    structure = ndimage.generate_binary_structure(2, 1)
    for z in present:
        grown = ndimage.binary_dilation(mask[z], structure, iterations=RING_PX)
        inside.append(image[z][mask[z]])
        ring.append(image[z][grown & ~mask[z]])
    inner, outer = np.concatenate(inside), np.concatenate(ring)
    if outer.size == 0:
        return "brighter"
    return "darker" if np.median(inner) < np.median(outer) else "brighter"


def group_of(item: TrainItem, kind: str) -> tuple[str, str, str]:
    return (kind, item.label, appearance(item.image, item.mask))


def sampling_weights(groups: Sequence[tuple], balance: str = RECIPE_BALANCE) -> np.ndarray:
    """One weight per item, summing to 1: ``"none"`` draws every mask equally often, ``"kind"``
    gives each kind of image (the group's first part) the same share, ``"group"`` each whole
    group."""
    if balance not in BALANCE:
        raise ValueError(f"balance must be one of {', '.join(BALANCE)}, not {balance!r}")
    if not groups:
        return np.zeros(0)
    keys = [() if balance == "none" else (g[:1] if balance == "kind" else tuple(g)) for g in groups]
    sizes = Counter(keys)
    weights = np.array([1.0 / (len(sizes) * sizes[k]) for k in keys])
    return weights / weights.sum()


def weighted(items: Sequence[TrainItem], kinds: Sequence[str], balance: str = RECIPE_BALANCE):
    """The items with their ``weight`` set by :func:`sampling_weights` (the trainer draws clips
    in proportion to it), and the groups' shares for the round's record."""
    groups = [group_of(item, kind) for item, kind in zip(items, kinds, strict=True)]
    weights = sampling_weights(groups, balance)
    for item, w in zip(items, weights, strict=True):
        item.weight = float(w)
    shares: dict[str, dict] = {}
    for g, w in zip(groups, weights, strict=True):
        row = shares.setdefault("/".join(g), {"masks": 0, "share": 0.0})
        row["masks"] += 1
        row["share"] += float(w)
    return list(items), {k: {**v, "share": round(v["share"], 4)} for k, v in sorted(shares.items())}


def recipe_lr(model_config: str) -> float:
    """A round's learning rate when the admin gives none: the paper's for published weights."""
    return STARTER_LR if str(model_config).startswith("starter") else RECIPE_LR


def loss_weights_for(model_config: str) -> dict[str, float]:
    """Fine-tune with the loss the model was trained with: the starters' dice weight of 5 (on
    small lesions SAM2's 1 lets a small model collapse to empty masks), SAM2's own otherwise."""
    from inference.bootstrap import BootstrapSettings
    from inference.train_loss import LOSS_WEIGHTS

    if str(model_config).startswith("starter"):
        return {**LOSS_WEIGHTS, "dice": BootstrapSettings.dice_weight}
    return dict(LOSS_WEIGHTS)


def round_config(
    model_config: str,
    *,
    steps: int,
    lr: float | None = None,
    seed: int = 0,
    anchor: float = RECIPE_ANCHOR,
    distill: float = RECIPE_DISTILL,
    object_head_lr_ratio: float = OBJECT_HEAD_LR_RATIO,
    decoder_lr_ratio: float = DECODER_LR_RATIO,
    **overrides,
) -> TrainConfig:
    """A fine-tuning round's training settings (the product's rounds and bench/loop.py): the
    paper's learning rates, the starters' loss, the pull toward production, the slower mask
    decoder and object-score head."""
    from inference.sam2_adapter import MASK_DECODER, OBJECT_SCORE_HEAD
    from inference.train import TrainConfig

    lr = recipe_lr(model_config) if lr is None else lr
    ratios = {} if decoder_lr_ratio == 1 else {MASK_DECODER: decoder_lr_ratio}
    if object_head_lr_ratio != decoder_lr_ratio:  # the head is in the decoder: longest prefix wins
        ratios[OBJECT_SCORE_HEAD] = object_head_lr_ratio
    return TrainConfig(
        model_config=model_config,
        steps=steps,
        lr=lr,
        encoder_lr=lr * ENCODER_LR_RATIO,
        seed=seed,
        anchor=anchor,
        distill=distill,
        loss_weights=loss_weights_for(model_config),
        lr_ratios=ratios,
        **overrides,
    )
