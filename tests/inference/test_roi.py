"""Target crop (inference.roi): planning, prompts in crop coordinates, engine and trainer use."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from inference import roi
from inference.engine import Prompt, SegmentOptions, segment_volume_detailed
from inference.model import CONFIG_DIR, MEDSAM2, STARTER, TINY_TEST
from inference.phantoms import ct_lesion_volume, echo_clip
from inference.tracking import FramePrompt
from inference.train import TrainConfig, TrainItem
from inference.train_data import PreparedItem, sample_clip

from .conftest import ct_volume


@pytest.fixture()
def cropping_config(tmp_path) -> str:
    """tiny_test plus ``engine.roi_context: 3``: same weights, cropped inference."""
    path = tmp_path / "tiny_crop.yaml"
    text = (CONFIG_DIR / f"{TINY_TEST}.yaml").read_text()
    path.write_text(text + "\nengine:\n  roi_context: 3.0\n")
    return str(path)


def test_plan_centres_a_square_of_context_times_the_box():
    region = roi.plan((40, 50, 52, 58), 128, 128, 3.0)
    assert region.side == 36  # 3 x the larger side (12)
    assert (region.x0 + region.side / 2, region.y0 + region.side / 2) == (46, 54)


def test_plan_keeps_the_square_inside_the_image_and_a_minimum_side():
    region = roi.plan((0, 120, 4, 128), 128, 200, 3.0)
    assert region.side == roi.MIN_SIDE
    assert region.x0 == 0 and region.y0 + region.side == 128


def test_plan_uses_the_whole_slice_when_the_square_would_not_be_smaller():
    assert roi.plan((10, 10, 60, 40), 128, 128, 3.0) is None  # 150 >= 128


def test_prompt_bounds_need_a_box_or_a_mask():
    assert roi.prompt_bounds([FramePrompt(0, points=[(5.0, 6.0)], labels=[1])]) is None
    mask = np.zeros((64, 64), bool)
    mask[10:20, 30:34] = True
    bounds = roi.prompt_bounds(
        [FramePrompt(0, mask=mask), FramePrompt(3, points=[(50.0, 5.0)], labels=[0])]
    )
    assert bounds == (30, 5.0, 50.0, 20)  # the mask's box grown to the point


def test_crop_prompts_and_paste_round_trip():
    region = roi.Roi(y0=8, x0=4, side=32)
    mask = np.zeros((64, 64), bool)
    mask[10:12, 6:9] = True
    [moved] = roi.crop_prompts(
        region, [FramePrompt(2, box=(6, 10, 9, 12), points=[(7.0, 11.0)], labels=[1], mask=None)]
    )
    assert moved.box == (2, 2, 5, 4) and moved.points == [(3.0, 3.0)] and moved.frame == 2
    stack = region.crop(mask[None])
    assert stack.shape == (1, 32, 32)
    assert np.array_equal(region.paste(stack, 64, 64)[0], mask)


def test_roi_context_comes_from_the_config(cropping_config, tmp_path):
    assert roi.roi_context(STARTER) == 3.0
    assert roi.roi_context(MEDSAM2) is None  # published weights: whole slices, as the reference
    assert roi.roi_context(cropping_config) == 3.0
    bad = tmp_path / "bad.yaml"
    tiny = (CONFIG_DIR / f"{TINY_TEST}.yaml").read_text()
    bad.write_text(tiny + "\nengine:\n  roi_context: 0.5\n")
    with pytest.raises(ValueError, match="roi_context must be >= 1"):
        roi.roi_context(str(bad))


def test_engine_segments_in_the_crop_and_pastes_back(present_model, cropping_config):
    loaded = dataclasses.replace(present_model, config=cropping_config)
    volume = ct_volume((12, 96, 96))
    box = (40.0, 40.0, 52.0, 50.0)
    mask, result = segment_volume_detailed(
        loaded, volume, "CT", [Prompt(index=6, box=box)], SegmentOptions(early_stop_patience=None)
    )
    region = result.region
    assert region == roi.plan(box, 96, 96, 3.0)
    assert mask.shape == volume.shape and mask.any()
    outside = np.ones(mask.shape, bool)
    outside[:, region.y0 : region.y0 + region.side, region.x0 : region.x0 + region.side] = False
    assert not mask[outside].any()
    logits = segment_volume_detailed(loaded, volume, "CT", [Prompt(index=6, box=box)],
                                     keep_logits=True)[1].logits  # fmt: skip
    assert next(iter(logits["forward"].values())).shape[-2:] == (region.side, region.side)


def test_engine_crop_can_be_turned_off(present_model, cropping_config):
    loaded = dataclasses.replace(present_model, config=cropping_config)
    volume, box = ct_volume((12, 96, 96)), (40.0, 40.0, 52.0, 50.0)
    options = SegmentOptions(early_stop_patience=None, target_crop=False)
    plain, result = segment_volume_detailed(loaded, volume, "CT", [Prompt(6, box=box)], options)
    same, _ = segment_volume_detailed(present_model, volume, "CT", [Prompt(6, box=box)], options)
    assert result.region is None and np.array_equal(plain, same)


def test_engine_uses_whole_slices_for_large_boxes_and_points_alone(present_model, cropping_config):
    loaded = dataclasses.replace(present_model, config=cropping_config)
    volume = ct_volume()
    _, big = segment_volume_detailed(loaded, volume, "CT", [Prompt(6, box=(10, 10, 40, 40))])
    _, points = segment_volume_detailed(loaded, volume, "CT", [Prompt(6, points=[(30, 20, 1)])])
    assert big.region is None and points.region is None


def test_training_clips_of_a_cropping_model_are_zoomed_on_the_target():
    small = (ct_lesion_volume(seed) for seed in range(40))
    phantom = next(p for p in small if p.mask[p.key_index].sum() < 200)  # a 128 px slice
    item = TrainItem(phantom.image, phantom.mask, "CT", "abdomen")
    zoomed, plain = PreparedItem(item, 128, 3.0), PreparedItem(item, 128)
    config = TrainConfig(clip_len=4)
    rng = np.random.default_rng(0)
    frames, masks = sample_clip(zoomed, config.clip_len, rng)
    assert frames.shape == (4, 1, 128, 128) and frames.dtype == torch.uint8
    assert masks.shape == (4, 128, 128) and masks[0].any()
    full = plain.masks[plain.key].sum().item()
    # The target fills about 1/3 of the side instead of a tenth or less.
    assert masks.flatten(1).sum(1).max().item() > 3 * full


def test_training_clips_of_echo_are_not_cropped():
    clip = echo_clip(1, frames=8)
    prep = PreparedItem(TrainItem(clip.image, clip.mask, "US", is_video=True), 64, 3.0)
    assert prep.roi_context is None and prep.frames.shape[-2:] == (64, 64)
