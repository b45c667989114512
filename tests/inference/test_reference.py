"""The independent reference (bench/reference.py) against the official rules and the engine."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bench.reference import largest_cc, official_uint8, reference_segment
from inference.engine import Prompt, SegmentOptions, segment_volume_detailed
from inference.preprocess import OFFICIAL, to_uint8
from tests.inference.conftest import ct_volume, lesion_box


def test_its_8_bit_rule_gives_the_hand_computed_values():
    hu = np.array([[-50, -49, 1, 100]], dtype=np.int16)  # inside the abdomen window
    assert official_uint8(hu, "CT", "abdomen").tolist() == [[0, 1, 86, 255]]
    mr = np.array([0, -5, 10, 20, 30, 40, 50], dtype=np.float64)
    assert official_uint8(mr, "MR").tolist() == [0, 0, 0, 63, 127, 191, 255]


@pytest.mark.parametrize(
    ("modality", "window", "scale"),
    [("CT", None, 400.0), ("CT", "lung", 800.0), ("CT", (-40, 90), 100.0), ("MR", None, 300.0)],
)
def test_the_engine_and_the_reference_agree_on_8_bits(modality, window, scale):
    volume = np.random.default_rng(7).normal(30.0, scale, (5, 24, 24)).astype(np.float32)
    volume[0, :3] = 0.0  # MR background
    ours = to_uint8(volume, modality, window, OFFICIAL)
    np.testing.assert_array_equal(ours, official_uint8(volume, modality, window))


def test_largest_cc_uses_full_connectivity():
    seg = np.zeros((3, 4, 4), np.uint8)
    seg[0, 0, 0] = seg[1, 1, 1] = 1  # corner-connected: one component of 2
    seg[2, 3, 2:] = 1  # apart: another of 2, a tie the first label wins
    seg[2, 0, 3] = 1
    out = largest_cc(seg)
    assert out.sum() == 2 and out[0, 0, 0] and out[1, 1, 1]


def test_the_same_crop_gives_the_same_mask(present_model, tmp_path):
    config = tmp_path / "tiny_crop.yaml"
    config.write_text("base: tiny_test\nengine:\n  roi_context: 1.5\n")
    cropping = dataclasses.replace(present_model, config=str(config))
    volume, box = ct_volume((10, 96, 96)), lesion_box((10, 96, 96))
    options = SegmentOptions(early_stop_patience=None)
    ours, result = segment_volume_detailed(cropping, volume, "CT", [Prompt(5, box=box)], options)
    region = result.region
    assert region is not None and region.side < 96
    ref, _ = reference_segment(
        cropping, volume, "CT", 5, box, crop=(region.y0, region.x0, region.side)
    )
    assert ours.any() and not ours[:, region.y0 :, region.x0 :].all()
    assert ref[:, : region.y0].sum() == 0  # pasted: nothing above the square
    np.testing.assert_array_equal(ours, ref)
