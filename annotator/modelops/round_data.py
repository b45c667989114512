"""The data of a round: its snapshot's accepted masks with their images, as evaluation examples
and as training items."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from annotator.annotations.models import Target
from annotator.annotations.selectors import revision_mask
from annotator.cases.selectors import load_volume

from .models import Snapshot


@dataclass
class Example:
    image: np.ndarray
    mask: np.ndarray
    modality: str
    kind: str
    label: str
    target: Target
    spacing_zyx: tuple[float, float, float]


def examples(snapshot: Snapshot, split: str) -> list[Example]:
    entries = snapshot.entries.filter(split=split).select_related(
        "revision", "target", "case__image"
    )
    found = []
    for entry in entries:
        image = entry.case.image
        sx, sy, sz = image.spacing
        found.append(
            Example(
                image=load_volume(image),
                mask=revision_mask(entry.revision),
                modality=image.modality,
                kind=image.kind,
                label=entry.target.label,
                target=entry.target,
                spacing_zyx=(sz, sy, sx),
            )
        )
    return found


def train_items(examples: list[Example], clip_len: int):
    """Training items cropped along z to the object (± a clip), so memory stays small."""
    from inference.train import TrainItem

    items = []
    for ex in examples:
        z = np.flatnonzero(ex.mask.reshape(ex.mask.shape[0], -1).any(axis=1))
        if z.size == 0:
            continue  # an accepted empty mask teaches nothing about the object's shape
        lo, hi = max(0, z[0] - clip_len), min(ex.mask.shape[0], z[-1] + clip_len + 1)
        items.append(
            TrainItem(
                image=ex.image[lo:hi],
                mask=ex.mask[lo:hi],
                modality=ex.modality,
                label=ex.label,
                is_video=ex.kind == "video",
            )
        )
    return items
