"""Training data: items, their model-resolution frames, and the clips and batches drawn from them.

A clip is ``clip_len`` consecutive slices/frames whose first frame shows the object, played
forwards or backwards; volumes of a cropping model (``roi_context``) are cropped around the
annotator's box as the engine crops them. Every draw takes a ``numpy`` generator, so a step's
batch depends only on the generator's seed (what makes a resumed run match).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from inference import roi
from inference.phantoms import mask_box
from inference.preprocess import IMAGENET_MEAN, IMAGENET_STD, WINDOW, Window, model_pixels


class TrainingError(Exception):
    """Training cannot run (bad data, bad config, a checkpoint that does not match)."""


@dataclass
class TrainItem:
    """One target to learn: its image and its (accepted) mask, voxel for voxel."""

    image: np.ndarray  # (D, H, W) volume (raw units) or (T, H, W) uint8 clip
    mask: np.ndarray  # (D, H, W) 0/1
    modality: str = "CT"
    window: Window | None = None
    label: str = ""
    is_video: bool = False
    weight: float = 1.0  # how often its clips are drawn, relative to the others (inference.replay)
    # Production already segments this kind well: its frames hold the image encoder's features
    # near production's (TrainConfig.distill; inference.replay says why).
    trusted: bool = False


ITEM_GLOB = "item-*.npz"


def save_items(items: Sequence[TrainItem], directory: str | Path) -> list[Path]:
    """Write an item set as ``item-NNNNN.npz`` files (what ``python -m inference.train_dist
    --items`` reads on every rank); returns the paths, in order."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, item in enumerate(items):
        meta = {"modality": item.modality, "window": item.window, "label": item.label,
                "is_video": bool(item.is_video), "weight": float(item.weight),
                "trusted": bool(item.trusted)}  # fmt: skip
        path = directory / f"item-{i:05d}.npz"
        partial = path.with_name(path.name + ".partial")
        with open(partial, "wb") as fh:
            np.savez(fh, image=np.asarray(item.image), mask=np.asarray(item.mask),
                     meta=np.array(json.dumps(meta)))  # fmt: skip
        os.replace(partial, path)
        paths.append(path)
    return paths


IMAGE_SAMPLE_STRIDE = 61  # every 61st voxel of an image enters the data fingerprint


def data_fingerprint(items: Sequence[TrainItem]) -> str:
    """Identifies an item set for resuming: the clips a step draws depend on the items, so a run
    resumed on other data would not end where an uninterrupted one does. Every mask (bit-packed),
    each image's shape, dtype and a strided sample of its voxels (the full volumes would cost
    seconds per round), and the metadata, in order."""
    digest = hashlib.sha256()
    for item in items:
        image, mask = np.asarray(item.image), np.asarray(item.mask)
        meta = [list(image.shape), str(image.dtype), list(mask.shape), item.modality, item.window,
                item.label, bool(item.is_video), round(float(item.weight), 12)]  # fmt: skip
        if item.trusted:  # only when set: item sets from before the flag keep their fingerprint
            meta.append("trusted")
        digest.update(json.dumps(meta, default=str).encode())
        digest.update(np.packbits(mask.reshape(-1) > 0).tobytes())
        digest.update(np.ascontiguousarray(image.reshape(-1)[::IMAGE_SAMPLE_STRIDE]).tobytes())
    return digest.hexdigest()[:16]


def load_items(directory: str | Path) -> list[TrainItem]:
    """The items :func:`save_items` wrote, in order."""
    paths = sorted(Path(directory).glob(ITEM_GLOB))
    if not paths:
        raise TrainingError(f"no {ITEM_GLOB} in {directory}")
    items = []
    for path in paths:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            window = meta["window"]
            items.append(TrainItem(
                image=data["image"], mask=data["mask"], modality=meta["modality"],
                window=tuple(window) if isinstance(window, list) else window,
                label=meta["label"], is_video=meta["is_video"],
                weight=float(meta.get("weight", 1.0)), trusted=bool(meta.get("trusted", False)),
            ))  # fmt: skip
    return items


class PreparedItem:
    """One item as uint8 frames (N, C, S, S) and masks (N, S, S) bool at model resolution S.

    With a target crop (``roi_context``, volumes only) it keeps the native slices instead, and
    every clip is cropped around the target and resized when it is drawn (:func:`_zoom`).
    """

    def __init__(
        self,
        item: TrainItem,
        size: int,
        roi_context: float | None = None,
        intensity: str = WINDOW,
    ):
        image, mask = np.asarray(item.image), np.asarray(item.mask)
        rgb = image.ndim == 4 and image.shape[-1] == 3 and image.dtype == np.uint8
        if rgb or image.ndim == 3:
            pixels = model_pixels(image, item.modality, item.is_video, item.window, intensity)
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
        self.weight = float(item.weight)
        self.trusted = bool(item.trusted)
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


def _zoom(prep: PreparedItem, frames, masks, rng: np.random.Generator):
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


CLIP_DRAWS = 8  # draws of a clip before starting it at the largest cross-section


def sample_clip(prep: PreparedItem, clip_len: int, rng: np.random.Generator):
    """Frames (T, C, S, S) uint8 and masks (T, S, S) of a clip whose first frame shows the object.

    Volumes mostly start near the largest cross-section (where the prompt goes at inference) and
    run towards one end, so the clip sees the object shrink and vanish as propagation does.

    A cropping model's clip is resized after it is drawn, and a start slice showing a few voxels
    of the object (a lesion's tip, a stray voxel an annotator left) can lose them all when its
    crop falls back to the whole slice; the box prompt then has nothing to enclose. Such a clip
    is drawn again, and after ``CLIP_DRAWS`` tries starts at the largest cross-section. A clip
    that shows the object on its first draw consumes the generator as before.
    """
    for _ in range(CLIP_DRAWS):
        frames, masks = _draw_clip(prep, clip_len, rng)
        if masks[0].any():
            return frames, masks
    frames, masks = _draw_clip(prep, clip_len, rng, start=prep.key)
    if not masks[0].any():
        raise TrainingError(
            f"a {prep.size}-pixel clip cannot show this target's largest cross-section "
            f"({int(prep.masks[prep.key].sum())} voxels): the target is too small to train on"
        )
    return frames, masks


def _draw_clip(
    prep: PreparedItem, clip_len: int, rng: np.random.Generator, start: int | None = None
):
    """One draw of :func:`sample_clip` (``start``: its first slice, else drawn)."""
    n = prep.frames.shape[0]
    if start is None:
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


def _augment(
    frames: torch.Tensor, masks: torch.Tensor, rng: np.random.Generator, invert: float = 0.0
):
    if rng.random() < 0.5:
        frames, masks = frames.flip(-1), masks.flip(-1)
    if rng.random() < 0.3:
        frames, masks = frames.flip(-2), masks.flip(-2)
    x = frames.float() / 255.0
    if rng.random() < 0.5:  # contrast/brightness/gamma, as a different scanner might give
        gamma = float(np.exp(rng.normal(0.0, 0.2)))
        x = (x.clamp(0, 1) ** gamma) * float(rng.uniform(0.85, 1.15)) + float(rng.normal(0, 0.04))
    # A dark object becomes a bright one: a batch of bright lesions also teaches dark ones. Drawn
    # only when on, so runs without it sample exactly as before.
    if invert and rng.random() < invert:
        x = 1.0 - x
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


def make_batch(
    preps: Sequence[PreparedItem],
    indices: Sequence[int],
    clip_len: int,
    box_jitter: float,
    rng: np.random.Generator,
    invert: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(T, B, 3, S, S) normalised frames, (T, B, S, S) masks, (B, 4) boxes."""
    frames, masks, boxes = [], [], []
    for i in indices:
        f, m = sample_clip(preps[i], clip_len, rng)
        x, m = _augment(f, m, rng, invert)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        frames.append(x)
        masks.append(m)
        boxes.append(_box(m[0], box_jitter, rng))
    mean = torch.tensor(IMAGENET_MEAN).view(1, 1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 1, 3, 1, 1)
    x = (torch.stack(frames, dim=1) - mean) / std
    return x, torch.stack(masks, dim=1), torch.tensor(boxes, dtype=torch.float32)
