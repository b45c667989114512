"""The data of a round: its snapshot's accepted masks with their images, as evaluation examples
and as training items."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from annotator.annotations.models import MaskRevision, Target
from annotator.annotations.selectors import revision_mask, target_window
from annotator.cases.selectors import load_volume
from annotator.registry.quality import kind_of

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
    window: object = None  # the target's input window (annotations.selectors.target_window)
    doubt: float | None = None  # the revision's doubt (MaskRevision.uncertainty), if a model's

    @property
    def task(self):
        """The segmentation task of this kind of image (inference.segtask), as pre-segmentation
        uses it."""
        from inference.segtask import task_for

        return task_for(self.modality, self.kind == "video")


def examples(
    snapshot: Snapshot,
    split: str,
    kinds: set[str] | None = None,
    keep: Callable[[MaskRevision], bool] | None = None,
) -> list[Example]:
    """The snapshot's entries of one split with their images and masks (only of ``kinds`` of
    data, when given, and only those whose revision ``keep`` accepts: the others'
    images are not loaded)."""
    entries = snapshot.entries.filter(split=split).select_related(
        "revision", "case__image", "target__case__project", "target__case__image"
    )
    found = []
    for entry in entries:
        image = entry.case.image
        kind = kind_of(image.kind, image.modality)
        if (kinds is not None and kind not in kinds) or (keep and not keep(entry.revision)):
            continue
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
                window=target_window(entry.target),
                doubt=entry.revision.uncertainty,
            )
        )
    return found


def train_items(
    examples: list[Example],
    clip_len: int,
    balance: str | None = None,
    trusted: set[str] | frozenset[str] = frozenset(),
):
    """Training items cropped along z to the object (± a clip), so memory stays small, weighted
    by the replay recipe (inference.replay: every kind/label/appearance group drawn equally
    often), those of ``trusted`` kinds marked so that their frames hold the encoder's features
    (``TrainConfig.distill``); and the groups' shares, for the round's record."""
    from inference import replay

    items, kinds = [], []
    for ex in examples:
        z = np.flatnonzero(ex.mask.reshape(ex.mask.shape[0], -1).any(axis=1))
        if z.size == 0:
            continue  # an accepted empty mask teaches nothing about the object's shape
        lo, hi = max(0, z[0] - clip_len), min(ex.mask.shape[0], z[-1] + clip_len + 1)
        item = ex.task.train_item(ex.image[lo:hi], ex.mask[lo:hi], window=ex.window,
                                  label=ex.label)  # fmt: skip
        kinds.append(kind_of(ex.kind, ex.modality))
        item.trusted = kinds[-1] in trusted
        items.append(item)
    return replay.weighted(items, kinds, balance or replay.RECIPE_BALANCE)
