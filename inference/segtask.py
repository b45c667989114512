"""One segmentation task per kind of image (as MONAI Label's infer tasks): the 8-bit frames the
model sees, the engine's options and the prompt of a target that has none. Pre-segmentation,
round training, round evaluation and the starter's bootstrap all go through it, so a model is
trained and gated on exactly the inputs production gives it.

    task = task_for("CT", is_video=False)
    mask = task.segment(loaded, volume, prompts, window=(-750, 1500))
    item = task.train_item(volume, accepted_mask, window=(-750, 1500), label="lesion")

The window is the caller's: the target's own (a targets CSV column), else the project's, else
the image's (the web app's rule, ``annotations.selectors.target_window``). Kinds: volumes by
modality (CT, MR, PET, other), and clips (echo/cine, whatever the modality).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from inference.checkpoint import LoadedModel
from inference.engine import (
    CLIP_DEFAULTS,
    Prompt,
    SegmentOptions,
    segment_clip_detailed,
    segment_volume_detailed,
)
from inference.preprocess import Window, canonical_modality
from inference.tracking import Progress, TrackResult
from inference.train_data import TrainItem


@dataclass(frozen=True)
class SegmentationTask:
    modality: str  # canonical: CT, MR, PET, US, OTHER
    is_video: bool

    @property
    def name(self) -> str:
        """The kind as quality figures name it: ct, mr, pet, other, or video."""
        return "video" if self.is_video else self.modality.lower()

    def options(self, window: Window | None = None, **overrides) -> SegmentOptions:
        """Engine options: clips without early stop or a component step, volumes as MedSAM2's
        3D script; ``overrides`` (early_stop_patience, z_range, ...) replace single fields."""
        base = CLIP_DEFAULTS if self.is_video else SegmentOptions()
        return replace(base, window=window, **overrides)

    def segment(
        self,
        loaded: LoadedModel,
        image: np.ndarray,
        prompts: list[Prompt],
        *,
        window: Window | None = None,
        progress: Progress | None = None,
        **overrides,
    ) -> np.ndarray:
        return self.segment_detailed(
            loaded, image, prompts, window=window, progress=progress, **overrides
        )[0]

    def segment_detailed(
        self,
        loaded: LoadedModel,
        image: np.ndarray,
        prompts: list[Prompt],
        *,
        window: Window | None = None,
        progress: Progress | None = None,
        **overrides,
    ) -> tuple[np.ndarray, TrackResult]:
        """:meth:`segment` plus what ran, with the model's confidence per frame
        (``TrackResult.absolute_scores()``), which the pre-segmentation checks read."""
        options = self.options(window, **overrides)
        if self.is_video:
            return segment_clip_detailed(loaded, image, prompts, options, progress=progress)
        return segment_volume_detailed(
            loaded, image, self.modality, prompts, options, progress=progress
        )

    def train_item(
        self, image: np.ndarray, mask: np.ndarray, *, window: Window | None = None, label: str = ""
    ) -> TrainItem:
        return TrainItem(image, mask, self.modality, window, label, self.is_video)

    @staticmethod
    def prompt_from_mask(mask: np.ndarray) -> list[Prompt] | None:
        """A target without a prompt: the box of its mask on the mask's middle slice/frame (as
        MedSAM2's evaluation prompts); None for an empty mask."""
        z = np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1))
        if z.size == 0:
            return None
        key = int(z[len(z) // 2])
        ys, xs = np.nonzero(mask[key])
        return [
            Prompt(
                index=key,
                box=(float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)),
            )
        ]


def task_for(modality: str, is_video: bool) -> SegmentationTask:
    return SegmentationTask(canonical_modality(modality), bool(is_video))
