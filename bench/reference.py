"""The reference procedure: stock SAM2VideoPredictor driven as MedSAM2's 3D scripts drive it.

``init_state``, box on the key slice, ``propagate_in_video`` forward, ``reset_state``, the box
again, ``propagate_in_video(reverse=True)``, union, largest 3D connected component. Used by the
tests and ``bench/inference_speed.py`` as the baseline the engine must match; it lives with the
benches because it is a yardstick, not product code (and it patches sam2 with ``unittest.mock``).

The only change: stock ``init_state`` reads frames from a JPEG folder or an mp4 (MedSAM2 ships a
patched predictor that takes a tensor). To hand it the preprocessed frames without a lossy JPEG
round trip, :func:`reference_segment` replaces ``load_video_frames`` in sam2's predictor module
for the duration of the ``init_state`` call with a function returning the already-normalised
(T, 3, S, S) float32 tensor and the original height/width -- exactly the values the stock loader
returns. Everything else (frame 0 encoded at init, the key slice encoded again after the reset,
one-frame feature cache) is stock.
"""

from __future__ import annotations

from unittest import mock

import numpy as np
import torch

from inference.checkpoint import LoadedModel
from inference.postprocess import largest_component
from inference.preprocess import ModelFrames


def reference_segment(
    loaded: LoadedModel,
    frames: ModelFrames,
    key_index: int,
    box: tuple[float, float, float, float],
    *,
    largest_cc: bool = True,
    keep_logits: bool = False,
) -> tuple[np.ndarray, dict[str, dict[int, np.ndarray]] | None]:
    """(mask uint8 (T, H, W), per-direction logits if asked) by the reference procedure."""
    predictor = loaded.model
    images = frames.as_tensor().to(loaded.device)
    height, width = frames.height, frames.width

    def in_memory_frames(*, image_size, compute_device, **_):
        if image_size != images.shape[-1]:
            raise ValueError(f"frames are {images.shape[-1]}px, the model wants {image_size}")
        return images.to(compute_device), height, width

    segs = np.zeros((len(frames), height, width), dtype=np.uint8)
    logits: dict[str, dict[int, np.ndarray]] | None = (
        {"forward": {}, "reverse": {}} if keep_logits else None
    )
    with torch.inference_mode(), loaded.autocast():
        with mock.patch("sam2.sam2_video_predictor.load_video_frames", in_memory_frames):
            state = predictor.init_state("in-memory volume")
        for name, reverse in (("forward", False), ("reverse", True)):
            predictor.add_new_points_or_box(
                inference_state=state, frame_idx=key_index, obj_id=1, box=np.asarray(box)
            )
            for frame_idx, _, mask_logits in predictor.propagate_in_video(state, reverse=reverse):
                segs[frame_idx, (mask_logits[0] > 0.0).cpu().numpy()[0]] = 1
                if logits is not None:
                    logits[name][frame_idx] = mask_logits[0, 0].float().cpu().numpy()
            predictor.reset_state(state)
    if largest_cc:
        segs = largest_component(segs).astype(np.uint8)
    return segs, logits
