from __future__ import annotations

import numpy as np
import pytest
import torch

from inference.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    OFFICIAL,
    WINDOW,
    ModelFrames,
    canonical_modality,
    intensity_rule,
    to_uint8,
)
from inference.windows import CT_WINDOWS, parse_window, window_bounds


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        ("abdomen", -160.0, 240.0),
        ("lung", -1350.0, 150.0),
        ("brain", 0.0, 80.0),
        ("mediastinum", -125.0, 225.0),
        ("bone", -500.0, 1300.0),
    ],
)
def test_ct_window_presets(name, low, high):
    assert window_bounds(name) == (low, high)
    assert window_bounds(name.upper()) == (low, high)
    ramp = np.array([low - 500, low, (low + high) / 2, high, high + 500], dtype=np.int16)
    assert to_uint8(ramp, "CT", name).tolist() == [0, 0, 128, 255, 255]


def test_ct_defaults_to_abdomen_and_accepts_explicit_window():
    hu = np.array([[-1000, -160, 40, 240, 3000]], dtype=np.int16)
    assert to_uint8(hu, "CT").tolist() == to_uint8(hu, "CT", "abdomen").tolist()
    assert to_uint8(hu, "ct", (40, 400)).tolist() == [[0, 0, 128, 255, 255]]
    # An explicit window also applies to MR (the user asked for it).
    assert to_uint8(np.array([0.0, 50.0, 100.0]), "MR", (50, 100)).tolist() == [0, 128, 255]
    assert set(CT_WINDOWS) == {"abdomen", "lung", "brain", "mediastinum", "bone"}


@pytest.mark.parametrize("window", ["liver?", (40, 0), (40, -5), (np.nan, 10), "x", (1, 2, 3)])
def test_bad_windows(window):
    with pytest.raises(ValueError, match="window"):
        to_uint8(np.zeros((2, 2)), "CT", window)


@pytest.mark.parametrize("modality", ["MR", "MRI", "PET", "PT", "XA"])
def test_percentile_normalisation_of_non_zero_voxels(modality):
    rng = np.random.default_rng(0)
    volume = np.zeros((4, 32, 32), dtype=np.float32)
    volume[:, 8:24, 8:24] = rng.gamma(2.0, 100.0, (4, 16, 16)) + 1.0
    volume[0, 8, 8] = 1e6  # an outlier beyond the 99.5th percentile
    out = to_uint8(volume, modality)
    assert out.dtype == np.uint8 and out.shape == volume.shape
    inside = volume[volume != 0]
    low, high = np.percentile(inside, [0.5, 99.5])
    assert (out[volume == 0] == 0).all()  # background stays 0
    assert (out[volume >= high] == 255).all()
    assert (out[(volume != 0) & (volume <= low)] == 0).all()
    mid = (volume > low) & (volume < high)
    expected = np.rint((volume[mid] - low) / (high - low) * 255)
    assert np.abs(out[mid].astype(int) - expected).max() <= 1


def test_percentiles_ignore_the_zero_background():
    volume = np.zeros((10, 10, 10), dtype=np.int16)  # 99.9% background
    volume[5, 5, :] = np.arange(100, 110)
    out = to_uint8(volume, "MR")
    assert out[5, 5, 0] == 0 and out[5, 5, -1] == 255
    assert to_uint8(np.zeros((3, 3)), "PET").max() == 0  # all background
    assert to_uint8(np.full((3, 3), 7.0), "MR").max() == 0  # constant image


def test_ultrasound_uint8_passes_through():
    frames = np.random.default_rng(1).integers(0, 256, (3, 8, 8), dtype=np.uint8)
    assert to_uint8(frames, "US") is frames
    assert canonical_modality("echo") == "US"
    assert canonical_modality("ultrasound") == "US"
    assert canonical_modality("mri") == "MR"
    assert canonical_modality("pt") == "PET"
    assert canonical_modality("SEG") == "OTHER"


@pytest.mark.parametrize(
    ("volume", "message"),
    [
        (np.array([1.0, np.nan]), "NaN"),
        (np.array([True, False]), "real numbers"),
        (np.array(["a"]), "real numbers"),
    ],
)
def test_bad_volumes(volume, message):
    with pytest.raises(ValueError, match=message):
        to_uint8(volume, "MR")


def test_bad_modality():
    with pytest.raises(ValueError, match="modality"):
        to_uint8(np.zeros(3), "")


def test_model_frames_are_float32_square_and_imagenet_normalised():
    frames = np.zeros((2, 96, 80), dtype=np.uint8)
    frames[1] = 255
    model_frames = ModelFrames(frames, 128)
    assert len(model_frames) == 2
    assert (model_frames.height, model_frames.width) == (96, 80)
    x = model_frames[1]
    assert x.dtype == torch.float32 and x.shape == (3, 128, 128)
    expected = (1.0 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert torch.allclose(x[:, 5, 5], expected, atol=1e-6)
    expected0 = -torch.tensor(IMAGENET_MEAN) / torch.tensor(IMAGENET_STD)
    assert torch.allclose(model_frames[0][:, 50, 70], expected0, atol=1e-6)
    stacked = model_frames.as_tensor()
    assert stacked.dtype == torch.float32 and stacked.shape == (2, 3, 128, 128)


def test_resize_keeps_geometry_of_non_square_slices():
    frame = np.zeros((1, 96, 80), dtype=np.uint8)
    frame[0, :48, :] = 200  # top half bright
    resized = ModelFrames(frame, 128).resized_uint8(0)
    assert resized.shape == (128, 128)
    assert resized[:60].mean() > 190 and resized[68:].mean() < 10


def test_rgb_frames_keep_their_channels():
    frames = np.zeros((1, 40, 60, 3), dtype=np.uint8)
    frames[..., 0] = 255  # pure red
    x = ModelFrames(frames, 64)[0]
    red = (1.0 - IMAGENET_MEAN[0]) / IMAGENET_STD[0]
    green = (0.0 - IMAGENET_MEAN[1]) / IMAGENET_STD[1]
    assert x.shape == (3, 64, 64)
    assert torch.allclose(x[0], torch.full((64, 64), red), atol=1e-5)
    assert torch.allclose(x[1], torch.full((64, 64), green), atol=1e-5)


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (np.zeros((2, 8, 8), np.float32), "uint8"),
        (np.zeros((8, 8), np.uint8), r"\(T, H, W\)"),
        (np.zeros((2, 8, 8, 4), np.uint8), r"\(T, H, W\)"),
        (np.zeros((0, 8, 8), np.uint8), "empty"),
    ],
)
def test_bad_frames(frames, message):
    with pytest.raises(ValueError, match=message):
        ModelFrames(frames, 64)


def test_frame_index_out_of_range():
    with pytest.raises(IndexError):
        ModelFrames(np.zeros((2, 8, 8), np.uint8), 16)[2]


def test_long_volumes_are_scaled_slab_by_slab_with_the_same_result():
    rng = np.random.default_rng(2)
    volume = rng.normal(40, 200, (20, 512, 512)).astype(np.int16)  # > one slab
    out = to_uint8(volume, "CT", "abdomen")
    expected = np.rint((np.clip(volume[-1].astype(np.float32), -160, 240) + 160) * (255 / 400))
    np.testing.assert_array_equal(out[-1], expected.astype(np.uint8))
    np.testing.assert_array_equal(out[:1], to_uint8(volume[:1], "CT", "abdomen"))


# The official rule (MedSAM2's scripts), checked against values worked out by hand.


def test_official_ct_stretches_a_sub_volume_that_does_not_span_its_window():
    # Abdomen window [-160, 240]; the volume only spans -50..100, so it is stretched:
    # (x + 50) / 150 * 255, truncated: -49 -> 1.7 -> 1, 1 -> 86.7 -> 86 (rounding gives 2, 87).
    hu = np.array([[-50, -49, 1, 100]], dtype=np.int16)
    assert to_uint8(hu, "CT", "abdomen", OFFICIAL).tolist() == [[0, 1, 86, 255]]
    assert to_uint8(hu, "CT", "abdomen", WINDOW).tolist() == [[70, 71, 103, 166]]
    # One side beyond the window: 500 clips to 240, so the range is -50..240 (290 HU):
    # 1 -> 51 / 290 * 255 = 44.8 -> 44.
    hu = np.array([-50, 1, 500], dtype=np.int16)
    assert to_uint8(hu, "CT", "abdomen", OFFICIAL).tolist() == [0, 44, 255]
    # No window on CT: abdomen; a constant clipped volume (the scripts divide by 0): zeros.
    assert to_uint8(hu, "CT", rule=OFFICIAL).tolist() == [0, 44, 255]
    assert to_uint8(np.full(3, -900.0), "CT", "abdomen", OFFICIAL).max() == 0


def test_official_mr_uses_positive_voxels_and_truncates():
    volume = np.array([0, -5, 10, 20, 30, 40, 50], dtype=np.float64)
    # Percentiles of 10..50 (linear): 10.2 and 49.8; range 39.6. Negative voxels clip to the
    # low end (0); exact zeros stay 0. 20 -> 9.8 / 39.6 * 255 = 63.1 -> 63,
    # 30 -> 127.5 -> 127 (rounding gives 128), 40 -> 191.9 -> 191.
    assert to_uint8(volume, "MR", rule=OFFICIAL).tolist() == [0, 0, 0, 63, 127, 191, 255]
    # The window rule counts the -5 as foreground, which moves the low percentile.
    assert to_uint8(volume, "MR", rule=WINDOW).tolist() != [0, 0, 0, 63, 127, 191, 255]
    assert to_uint8(np.array([0.0, -3.0]), "PET", rule=OFFICIAL).max() == 0  # no voxel > 0


def test_official_rule_is_the_same_by_slabs(monkeypatch):
    import inference.preprocess as preprocess

    rng = np.random.default_rng(3)
    volume = rng.normal(0, 300, (6, 16, 16)).astype(np.float32)
    whole = to_uint8(volume, "CT", "lung", OFFICIAL)
    monkeypatch.setattr(preprocess, "_SLAB_VOXELS", 256)  # one slice per slab
    assert np.array_equal(to_uint8(volume, "CT", "lung", OFFICIAL), whole)


def test_configs_name_their_intensity_rule():
    assert intensity_rule("medsam2_t512") == OFFICIAL
    assert intensity_rule("starter_c128") == WINDOW  # inherited from starter_s128
    assert intensity_rule("starter_s256") == WINDOW
    assert intensity_rule("tiny_test") == OFFICIAL  # absent: the published rule
    with pytest.raises(ValueError, match="rule"):
        to_uint8(np.zeros(3), "CT", rule="nearest")


@pytest.mark.parametrize(
    ("given", "stored"),
    [("Lung", "lung"), ([-750, 1500], (-750.0, 1500.0)), (("40", "400"), (40.0, 400.0))],
)
def test_parse_window_takes_presets_and_center_width(given, stored):
    assert parse_window(given) == stored


@pytest.mark.parametrize(
    "bad", ["lungs", [40], [40, 0], [40, -5], [float("nan"), 400], [1, 2, 3], None, {"c": 40}]
)
def test_parse_window_refuses_what_is_not_a_window(bad):
    with pytest.raises(ValueError, match="window"):
        parse_window(bad)
