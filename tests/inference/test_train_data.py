"""Clips for training (inference.train_data): every clip's first frame shows the target at model
size, which the box prompt needs; a target too small to show is refused with a clear error."""

from __future__ import annotations

import numpy as np
import pytest

from inference.train_data import (
    PreparedItem,
    TrainingError,
    TrainItem,
    _draw_clip,
    make_batch,
    sample_clip,
)


def _lesion_with_a_stray_voxel() -> TrainItem:
    """A CT lesion in the middle of 256-pixel slices, and a stray voxel in a corner two slices
    below: a crop around the lesion misses the voxel, so a clip starting there falls back to the
    whole slice, which the resize to 32 pixels loses it in."""
    rng = np.random.default_rng(0)
    image = rng.normal(40.0, 10.0, (8, 256, 256)).astype(np.float32)
    mask = np.zeros(image.shape, np.uint8)
    mask[3, 110:146, 110:146] = 1
    mask[4, 116:140, 116:140] = 1
    mask[5, 0, 0] = 1
    image[mask > 0] += 60.0
    return TrainItem(image=image, mask=mask, modality="CT")


def test_a_clip_whose_start_loses_the_target_is_drawn_again():
    prep = PreparedItem(_lesion_with_a_stray_voxel(), size=32, roi_context=3.0)
    # the bug this guards: some first draws start on the stray voxel and show nothing
    empty_first = [s for s in range(200)
                   if not _draw_clip(prep, 3, np.random.default_rng(s))[1][0].any()]  # fmt: skip
    assert empty_first
    for seed in empty_first + list(range(20)):
        frames, masks, boxes = make_batch([prep], [0], 3, 0.0, np.random.default_rng(seed))
        assert masks[0, 0].any() and masks.shape == (3, 1, 32, 32)
        x0, y0, x1, y1 = boxes[0].tolist()
        assert 0.0 <= x0 < x1 <= 32.0 and 0.0 <= y0 < y1 <= 32.0


def test_a_first_draw_that_shows_the_target_consumes_the_generator_as_before():
    prep = PreparedItem(_lesion_with_a_stray_voxel(), size=32, roi_context=3.0)
    seed = next(s for s in range(200) if _draw_clip(prep, 3, np.random.default_rng(s))[1][0].any())
    one, other = np.random.default_rng(seed), np.random.default_rng(seed)
    frames, masks = sample_clip(prep, 3, one)
    again = _draw_clip(prep, 3, other)
    assert np.array_equal(frames, again[0]) and np.array_equal(masks, again[1])
    assert one.random() == other.random()  # the next draw is the same too


def test_a_target_too_small_to_show_at_model_size_is_refused():
    # Slices 40 x 4000: a crop around a thin 30-voxel line would not fit, so whole slices are
    # resized to 32 x 32, which no slice of the line survives.
    image = np.zeros((2, 40, 4000), np.float32)
    mask = np.zeros(image.shape, np.uint8)
    mask[:, 20, 1000:1030] = 1
    prep = PreparedItem(TrainItem(image=image, mask=mask, modality="CT"), 32, roi_context=3.0)
    with pytest.raises(TrainingError, match="too small to train on"):
        sample_clip(prep, 2, np.random.default_rng(0))
