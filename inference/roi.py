"""Target crop: segment a small 3D target in a square in-plane region around its prompts.

A model whose config says so (``engine: {roi_context: 3.0}``, the starter's) sees a volume's
slices cropped to a square ``roi_context`` times the prompts' extent, centred on them, and
resized to its input size, instead of the whole slice. A 12-voxel lesion then fills a third of
the model's input rather than a tenth, and the memory attention's stride-16 grid resolves it.
The crop is fixed for the whole request (the key slice's box bounds the target on the other
slices), the mask comes back pasted into the full slice, and training (``inference.train``)
crops its clips the same way, so the model learns the scale it is used at. Configs without the
setting (MedSAM2's published weights) see whole slices, as the reference does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from inference.phantoms import mask_box

MIN_SIDE = 32  # voxels: below this a crop holds too little context to tell the target apart


@dataclass(frozen=True)
class Roi:
    """Square region ``[y0, y0 + side) x [x0, x0 + side)`` of a slice, inside the image."""

    y0: int
    x0: int
    side: int

    @property
    def slices(self) -> tuple[slice, slice]:
        """(rows, columns) of the region."""
        return slice(self.y0, self.y0 + self.side), slice(self.x0, self.x0 + self.side)

    def crop(self, stack: np.ndarray) -> np.ndarray:
        """(D, H, W, ...) → (D, side, side, ...), a view."""
        return stack[(slice(None), *self.slices)]

    def paste(self, stack: np.ndarray, height: int, width: int) -> np.ndarray:
        """(D, side, side) → (D, height, width), zero outside the region."""
        out = np.zeros((stack.shape[0], height, width), dtype=stack.dtype)
        self.crop(out)[:] = stack
        return out

    def box(self, box: Sequence[float]) -> tuple[float, float, float, float]:
        x0, y0, x1, y1 = box
        return (x0 - self.x0, y0 - self.y0, x1 - self.x0, y1 - self.y0)


def extent(boxes: Sequence[Sequence[float]]) -> tuple[float, float, float, float] | None:
    """Union (x0, y0, x1, y1) of boxes, or None for no boxes."""
    if not boxes:
        return None
    arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return (arr[:, 0].min(), arr[:, 1].min(), arr[:, 2].max(), arr[:, 3].max())


def plan(
    bounds: Sequence[float], height: int, width: int, context: float, shift=(0.0, 0.0)
) -> Roi | None:
    """The square region ``context`` times the larger side of ``bounds`` (x0, y0, x1, y1),
    centred on it (plus ``shift``, a fraction of the side, for training), moved inside the image.
    None when that square would not be smaller than the slice: the whole slice is used then."""
    x0, y0, x1, y1 = bounds
    side = int(round(max(MIN_SIDE, context * max(x1 - x0, y1 - y0, 1.0))))
    if side >= min(height, width):
        return None
    cx = (x0 + x1) / 2 + shift[0] * side
    cy = (y0 + y1) / 2 + shift[1] * side
    top = int(np.clip(round(cy - side / 2), 0, height - side))
    left = int(np.clip(round(cx - side / 2), 0, width - side))
    return Roi(top, left, side)


def prompt_bounds(prompts) -> tuple[float, float, float, float] | None:
    """Extent of the boxes, mask prompts and points of ``FramePrompt``s; None without a box or
    mask (points alone say nothing about the target's size)."""
    boxes = [p.box for p in prompts if p.box is not None]
    boxes += [mask_box(p.mask) for p in prompts if p.mask is not None and p.mask.any()]
    if not boxes:
        return None
    boxes += [(x, y, x, y) for p in prompts for x, y in p.points]
    return extent(boxes)


def crop_prompts(roi: Roi, prompts) -> list:
    """``FramePrompt``s in the region's coordinates."""
    return [
        replace(
            p,
            box=roi.box(p.box) if p.box is not None else None,
            points=[(x - roi.x0, y - roi.y0) for x, y in p.points],
            mask=roi.crop(p.mask[None])[0] if p.mask is not None else None,
        )
        for p in prompts
    ]


@lru_cache(maxsize=32)
def roi_context(config: str) -> float | None:
    """The config's ``engine.roi_context`` (None: whole slices)."""
    from inference.model import load_config  # local: model imports torch/hydra

    value = load_config(config).get("engine", {}).get("roi_context")
    if value is None:
        return None
    value = float(value)
    if not value >= 1.0:
        raise ValueError(f"config {config!r}: engine.roi_context must be >= 1, got {value}")
    return value
