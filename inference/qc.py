"""Checks on a model's mask before anyone looks at it (issue #14: a bad model put masks on the
body edge or outside the body for 7 of 8 CT lesions and no page said so).

:func:`check_mask` looks at a mask, the prompt that made it and the model's own confidence, and
returns flags, each ``{"code", "slices", "detail"}``:

- ``empty``: no voxel at all.
- ``off_box``: on the key slice, most of the mask lies outside its prompt box, or it fills
  almost none of the box (or the key slice is empty).
- ``border``: the mask touches an edge of the image that the box does not come near.
- ``area_jump``: a slice's area jumps implausibly from its neighbour's (volumes: growth away from
  the key slice; clips: any change between consecutive frames).
- ``low_confidence``: sam2's predicted IoU is low (or its object score negative) on the key slice,
  or on a good share of the mask's slices.

Slices are indices in the whole volume or clip (the viewer's slice numbers). No Django, no torch:
the scores are anything with ``iou`` and ``object_score`` attributes
(``inference.sam2_adapter.FrameScore``), or None when unknown.

:func:`uncertainty` folds the same inputs into one number in [0, 1] (issue #15: which case to
label next): how much the model doubts its own mask, for ordering annotators' queues.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

CODES = ("empty", "off_box", "border", "area_jump", "low_confidence")

# off_box: at least half of the key slice's mask must lie in the box. The box is drawn around the
# target, so a mask of that target leaking a little still lies mostly inside; a mask mostly
# outside is of something else (the body edge, a neighbouring organ).
OFF_BOX_MIN_INSIDE = 0.5
# ... and the part inside must fill at least a tenth of the box: an ellipse fills pi/4 (0.79) of
# its tight box and a lesion in a box three times its size still 0.09-0.1; a few stray pixels in
# the box are not the target.
OFF_BOX_MIN_COVER = 0.1
# border: an edge counts as reached by the box when the box comes within this many pixels of it
# (annotators rarely draw to the exact pixel).
BORDER_MARGIN = 2
# area_jump, volumes: away from the key slice a lesion's cross-section shrinks or grows slowly;
# tripling from one slice to the next is a leak into a neighbouring structure (or a jump to
# another object after the target was lost). Only growth away from the key slice counts: the ends
# of a coarsely sampled lesion shrink to nothing in one slice, which is plausible.
AREA_JUMP_RATIO = 3.0
# area_jump, clips: the left ventricle changes by a few per cent per frame and about x2 over a
# whole beat, so doubling (or halving, or vanishing) between consecutive frames is implausible.
CLIP_AREA_JUMP_RATIO = 2.0
# area_jump: the larger area must be at least this many pixels; below it a few pixels of noise
# make large ratios.
AREA_JUMP_MIN_PIXELS = 20
# low_confidence: SAM2's IoU head is trained to predict the mask's IoU with the truth (here with
# cross-entropy); under 0.5 the model itself expects the mask to be more wrong than right.
LOW_IOU = 0.5
# low_confidence on other slices: flagged when at least a quarter of the mask's slices are low
# (one or two uncertain tips of a lesion are normal).
LOW_CONFIDENCE_MIN_SHARE = 0.25
# Stored slice lists are cut to this length (the detail keeps the full count).
MAX_SLICES = 200


class Score(Protocol):
    iou: float | None
    object_score: float | None


def check_mask(
    mask: np.ndarray,
    *,
    key_index: int,
    box: Sequence[float] | None = None,
    scores: Mapping[int, Score] | None = None,
    is_video: bool = False,
) -> list[dict]:
    """Flags of a model's mask (D, H, W) made from a prompt on ``key_index`` (a box (x0, y0, x1,
    y1) in voxels, or None for points or a mask); [] when nothing is wrong."""
    mask = np.asarray(mask).astype(bool, copy=False)
    if mask.ndim != 3:
        raise ValueError(f"mask must be (D, H, W), got shape {mask.shape}")
    depth = mask.shape[0]
    key_index = min(max(int(key_index), 0), depth - 1)
    areas = mask.reshape(depth, -1).sum(axis=1)
    unit = "frame" if is_video else "slice"
    flags = []
    if not areas.any():
        flags.append(_flag("empty", [], "the model's mask is empty: draw the target by hand"))
    else:
        if box is not None:
            flags += _off_box(mask[key_index], box, key_index, unit)
            flags += _border(mask, box, areas, unit)
        flags += _area_jump(areas, key_index, is_video, unit)
    flags += _low_confidence(areas, scores or {}, key_index, unit)
    return flags


def _flag(code: str, slices, detail: str) -> dict:
    slices = sorted({int(s) for s in slices})
    return {"code": code, "slices": slices[:MAX_SLICES], "detail": detail}


def _box_pixels(box: Sequence[float], height: int, width: int) -> tuple[int, int, int, int]:
    """Row/column bounds (half-open) of the pixels the box covers."""
    x0, y0, x1, y1 = (float(v) for v in box)
    c0, c1 = max(0, math.floor(x0)), min(width, math.ceil(x1))
    r0, r1 = max(0, math.floor(y0)), min(height, math.ceil(y1))
    return r0, r1, c0, c1


def _off_box(key_mask: np.ndarray, box, key_index: int, unit: str) -> list[dict]:
    r0, r1, c0, c1 = _box_pixels(box, *key_mask.shape)
    total = int(key_mask.sum())
    if total == 0:
        return [_flag("off_box", [key_index], f"nothing on the key {unit} {key_index}")]
    inside = int(key_mask[r0:r1, c0:c1].sum())
    box_area = max(1, (r1 - r0) * (c1 - c0))
    share, cover = inside / total, inside / box_area
    if share < OFF_BOX_MIN_INSIDE:
        detail = f"{100 * (1 - share):.0f}% of the mask on the key {unit} lies outside its box"
    elif cover < OFF_BOX_MIN_COVER:
        detail = f"the mask fills {100 * cover:.0f}% of the box on the key {unit}"
    else:
        return []
    return [_flag("off_box", [key_index], detail)]


def _border(mask: np.ndarray, box, areas: np.ndarray, unit: str) -> list[dict]:
    _, height, width = mask.shape
    r0, r1, c0, c1 = _box_pixels(box, height, width)
    edges = {
        "top": (r0 > BORDER_MARGIN, mask[:, 0, :]),
        "bottom": (r1 < height - BORDER_MARGIN, mask[:, -1, :]),
        "left": (c0 > BORDER_MARGIN, mask[:, :, 0]),
        "right": (c1 < width - BORDER_MARGIN, mask[:, :, -1]),
    }
    touched, slices = [], set()
    for name, (box_far, edge) in edges.items():
        hit = np.flatnonzero(edge.any(axis=1)) if box_far else []
        if len(hit):
            touched.append(name)
            slices.update(hit.tolist())
    if not touched:
        return []
    n = len(slices)
    detail = (
        f"touches the image's {', '.join(touched)} edge on {n} {unit}{'s' if n > 1 else ''}, "
        "where its box does not"
    )
    return [_flag("border", slices, detail)]


def _area_jump(areas: np.ndarray, key_index: int, is_video: bool, unit: str) -> list[dict]:
    jumps: list[tuple[int, int, int]] = []  # (slice, its area, the neighbour's area)
    if is_video:
        for z in range(1, len(areas)):
            a, b = int(areas[z - 1]), int(areas[z])
            big, small = max(a, b), min(a, b)
            if big >= AREA_JUMP_MIN_PIXELS and big > CLIP_AREA_JUMP_RATIO * small:
                jumps.append((z, b, a))
    else:
        away = [(z, z - 1) for z in range(key_index + 1, len(areas))]
        away += [(z, z + 1) for z in range(key_index - 1, -1, -1)]
        for z, nearer in away:
            a, n = int(areas[z]), int(areas[nearer])
            if a >= AREA_JUMP_MIN_PIXELS and a > AREA_JUMP_RATIO * n:
                jumps.append((z, a, n))
    if not jumps:
        return []
    z, a, n = max(jumps, key=lambda j: j[1] / max(j[2], 1))
    more = f" (and {len(jumps) - 1} more)" if len(jumps) > 1 else ""
    detail = f"area {a} px on {unit} {z} next to {n} px{more}"
    return [_flag("area_jump", [j[0] for j in jumps], detail)]


def _low_confidence(
    areas: np.ndarray, scores: Mapping[int, Score], key_index: int, unit: str
) -> list[dict]:
    key = scores.get(key_index)
    key_low = key is not None and (
        (key.iou is not None and key.iou < LOW_IOU)
        or (key.object_score is not None and key.object_score <= 0)
    )
    judged = [
        z for z, s in scores.items() if 0 <= z < len(areas) and areas[z] > 0 and s.iou is not None
    ]
    low = [z for z in judged if scores[z].iou < LOW_IOU]
    share_low = bool(judged) and len(low) >= LOW_CONFIDENCE_MIN_SHARE * len(judged)
    if not (key_low or share_low):
        return []
    parts = []
    if key_low:
        bits = []
        if key.iou is not None:
            bits.append(f"predicted IoU {key.iou:.2f}")
        if key.object_score is not None and key.object_score <= 0:
            bits.append(f"object score {key.object_score:.1f} (the model sees no object)")
        parts.append(f"{' and '.join(bits)} on the key {unit}")
    if low:
        parts.append(f"{len(low)} of {len(judged)} {unit}s under IoU {LOW_IOU}")
    slices = set(low) | ({key_index} if key_low else set())
    return [_flag("low_confidence", slices, "; ".join(parts))]


# uncertainty: what a flag alone says about the mask, as the chance that it needs real correction.
# An empty mask must be drawn from nothing; a mask off its box is of something else; a border leak
# or an area jump is a local repair; low_confidence is mostly counted already by the predicted IoU
# (it comes from the same scores) and adds only the key slice's weight the mean dilutes.
FLAG_WEIGHTS = {
    "empty": 1.0,
    "off_box": 0.6,
    "border": 0.3,
    "area_jump": 0.3,
    "low_confidence": 0.25,
}
# A flag code this module does not know (a newer check) counts like a local repair.
UNKNOWN_FLAG_WEIGHT = 0.3


def uncertainty(
    scores: Mapping[int, Score] | None,
    flags: Sequence[dict] | None = None,
    *,
    frames: Sequence[int] | None = None,
    disagreement: float | None = None,
) -> float | None:
    """How much the model doubts a mask, in [0, 1] (1: surely wrong); None when nothing is known.

    ``scores`` ({slice: FrameScore}) over the mask's ``frames`` (the slices with voxels; default:
    every scored slice) give the model's own doubt::

        model = 1 - mean(clip(iou, 0, 1)) * mean(sigmoid(object_score))

    SAM2's IoU head is trained to predict the mask's IoU with the truth, so 1 - mean IoU is the
    expected share of the mask that is wrong; the object score is a logit of "the object is
    here", so its sigmoid is the chance the slice's mask is of anything at all (a frame without
    an object score counts as 1; a mask-prompted frame, None/None, is a person's and is skipped).
    Then each independent piece of evidence can only add doubt (a noisy OR)::

        u = 1 - (1 - model) * prod(1 - FLAG_WEIGHTS[code] for code in flags) * (1 - disagreement)

    ``disagreement`` (in [0, 1], e.g. 1 - Dice between the forward and the backward propagation
    on the slices both reached) is optional. Without scores the flags alone decide; without
    scores, flags and disagreement the mask's doubt is unknown (None), and queues put such
    masks after the scored ones.
    """
    wanted = None if frames is None else {int(f) for f in frames}
    ious, presences = [], []
    for z, score in (scores or {}).items():
        if wanted is not None and int(z) not in wanted:
            continue
        if score.iou is not None:
            ious.append(min(max(float(score.iou), 0.0), 1.0))
        if score.object_score is not None:
            presences.append(_sigmoid(float(score.object_score)))
    known = bool(ious or presences or flags or disagreement is not None)
    if not known:
        return None
    confidence = (float(np.mean(ious)) if ious else 1.0) * (
        float(np.mean(presences)) if presences else 1.0
    )
    keep = confidence  # without model scores only the flags and the disagreement speak
    for code in codes(flags):
        keep *= 1.0 - FLAG_WEIGHTS.get(code, UNKNOWN_FLAG_WEIGHT)
    if disagreement is not None:
        keep *= 1.0 - min(max(float(disagreement), 0.0), 1.0)
    return round(min(max(1.0 - keep, 0.0), 1.0), 4)


def assess(
    mask: np.ndarray,
    *,
    key_index: int,
    box: Sequence[float] | None = None,
    scores: Mapping[int, Score] | None = None,
    is_video: bool = False,
    disagreement: float | None = None,
) -> tuple[list[dict], float | None]:
    """A model mask's flags (:func:`check_mask`) and its :func:`uncertainty` over the slices
    that have voxels, with the two directions' ``disagreement`` where the tracker had one
    (``TrackResult.disagreement``): what pre-segmentation stores, and what bench/loop.py
    orders by."""
    flags = check_mask(mask, key_index=key_index, box=box, scores=scores, is_video=is_video)
    mask = np.asarray(mask)
    frames = np.flatnonzero(mask.reshape(len(mask), -1).any(axis=1)).tolist()
    return flags, uncertainty(scores, flags, frames=frames, disagreement=disagreement)


def assess_track(
    mask: np.ndarray,
    track,
    *,
    key_index: int,
    box: Sequence[float] | None = None,
    is_video: bool = False,
) -> tuple[list[dict], float | None]:
    """:func:`assess` of a mask from what tracking it gave (``TrackResult``: the scores per
    slice and the two directions' disagreement)."""
    return assess(mask, key_index=key_index, box=box, scores=track.absolute_scores(),
                  is_video=is_video, disagreement=track.disagreement)  # fmt: skip


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def codes(flags: Sequence[dict] | None) -> list[str]:
    return [f["code"] for f in flags or ()]
