"""Multi-frame DICOM: enhanced volumes and ultrasound cine clips (real pydicom test files)."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from annotator.cases.imaging import load_sources, write_canonical_nifti
from annotator.cases.imaging.dicom_clip import frame_rate
from annotator.cases.imaging.synthetic import ct_phantom, write_cine, write_enhanced

from .helpers import assert_clean, assert_rejected, data_file


def test_enhanced_ct_frames_are_sorted_by_position(limits, scratch):
    """eCT_Supplemental: 2 frames stored with the upper slice first, IOP row = -x."""
    path = data_file("eCT_Supplemental.dcm")
    (volume,) = load_sources([path], limits)
    ds = pydicom.dcmread(path)
    raw = ds.pixel_array
    frames = ds.PerFrameFunctionalGroupsSequence
    z = [float(f.PlanePositionSequence[0].ImagePositionPatient[2]) for f in frames]
    assert z == [-159.0, -149.0]
    # normal = (-1,0,0) x (0,1,0) = (0,0,-1): ascending along it means descending z.
    assert volume.dicom.frame_numbers == [2, 1]
    np.testing.assert_array_equal(volume.array, raw[[1, 0]].astype(np.int32) - 1024)
    assert volume.array.dtype == np.int16
    assert volume.origin == pytest.approx((99.5, -301.5, -149.0))
    assert volume.spacing == pytest.approx((0.388672, 0.388672, 10.0))
    assert volume.direction == pytest.approx((-1, 0, 0, 0, 1, 0, 0, 0, -1))
    assert volume.window == (49.0, 102.0)  # from the shared Frame VOI LUT
    assert volume.source_format == "dicom-multiframe" and volume.kind == "volume"
    assert_clean(scratch)


def test_enhanced_mr_without_functional_groups_keeps_stored_order(limits):
    """pydicom-data's emri_small.dcm has no per-frame geometry at all: a volume is still made,
    with the header's slice spacing, and a note says what was assumed."""
    notes: list[str] = []
    (volume,) = load_sources([data_file("emri_small.dcm")], limits, notes=notes)
    ds = pydicom.dcmread(data_file("emri_small.dcm"))
    assert volume.kind == "volume" and volume.modality == "MR"
    np.testing.assert_array_equal(volume.array, ds.pixel_array)
    assert volume.spacing == pytest.approx((1.0, 1.0, 1.2))
    assert volume.dicom.frame_numbers == list(range(1, 11))
    assert any("assumed" in n for n in notes)


@pytest.mark.parametrize(
    "name",
    [
        "emri_small_RLE.dcm",
        "emri_small_big_endian.dcm",
        "emri_small_jpeg_2k_lossless.dcm",
        "emri_small_jpeg_ls_lossless.dcm",
    ],
)
def test_enhanced_mr_in_other_transfer_syntaxes_decodes_identically(limits, name):
    (reference,) = load_sources([data_file("emri_small.dcm")], limits)
    (volume,) = load_sources([data_file(name)], limits)
    np.testing.assert_array_equal(volume.array, reference.array)


def test_ultrasound_cine_jpeg_baseline(limits, scratch, tmp_path):
    """color3d_jpeg_baseline.dcm: 120 YBR JPEG frames at FrameTime 33.333 ms."""
    (clip,) = load_sources([data_file("color3d_jpeg_baseline.dcm")], limits)
    assert clip.kind == "video" and clip.modality == "US"
    assert clip.array.shape == (120, 480, 640) and clip.array.dtype == np.uint8
    assert clip.frame_rate == pytest.approx(30.0, rel=1e-3)
    # spacing from the ultrasound region (0.0510 cm per pixel)
    assert clip.spacing == pytest.approx((0.5104970559, 0.5104970559, 1.0))
    assert clip.origin == (0.0, 0.0, 0.0)
    assert clip.description == "US cine, 120 frames, 640x480, 30 fps"
    assert clip.window == (127.5, 255.0)
    assert clip.array.max() > 100  # real image content, not an empty decode
    write_canonical_nifti(clip, tmp_path / "clip.nii.gz")
    assert_clean(scratch)


def test_colour_clip_becomes_luminance(limits):
    path = data_file("examples_ybr_color.dcm")
    (clip,) = load_sources([path], limits)
    rgb = pydicom.dcmread(path).pixel_array.astype(np.float64)  # pydicom converts YBR → RGB
    expected = np.rint(rgb @ np.array([0.299, 0.587, 0.114]))
    assert clip.array.shape == (30, 240, 320)
    assert np.abs(clip.array.astype(np.float64) - expected).max() <= 1.0


def _frames(**values) -> Dataset:
    ds = Dataset()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"FrameTime": "40"}, 25.0),
        ({"FrameTimeVector": ["0", "20", "20", "20"]}, 50.0),
        ({"CineRate": "24"}, 24.0),
        ({"RecommendedDisplayFrameRate": "15"}, 15.0),
        ({"FrameTime": "50", "CineRate": "30"}, 20.0),  # acquisition timing wins
        ({"FrameTime": "0"}, None),
        ({}, None),
    ],
)
def test_frame_rate_sources(values, expected):
    rate = frame_rate(_frames(**values))
    assert rate == (pytest.approx(expected) if expected is not None else None)


def test_single_frame_ultrasound_still_is_skipped(tmp_path, limits, scratch):
    notes: list[str] = []
    with pytest.raises(Exception) as excinfo:
        load_sources([data_file("US1_J2KR.dcm")], limits, notes=notes)
    assert_rejected(excinfo, "no importable images", "no patient geometry")
    assert notes


def test_truncated_clip_is_rejected(tmp_path, limits, scratch):
    path = tmp_path / "clip.dcm"
    path.write_bytes(data_file("examples_ybr_color.dcm").read_bytes()[:-20000])
    with pytest.raises(Exception) as excinfo:
        load_sources([path], limits)
    assert_rejected(excinfo, "clip.dcm")
    assert_clean(scratch)


def test_generated_enhanced_ct_with_shuffled_frames_and_per_frame_slopes(tmp_path, limits):
    values = ct_phantom(6, 24)
    order = [3, 0, 5, 1, 4, 2]
    slopes = [1, 2, 1, 2, 1, 2]  # frames 1, 3, 5 stored at half value
    path = write_enhanced(tmp_path / "ect.dcm", values, frame_order=order, slopes=slopes)
    (volume,) = load_sources([path], limits)
    assert volume.dicom.frame_numbers == [order.index(k) + 1 for k in range(6)]
    assert volume.array.dtype == np.int16
    assert np.abs(volume.array.astype(int) - values).max() <= 1
    assert volume.origin == pytest.approx((-100.0, -120.0, 40.0))
    assert volume.spacing == pytest.approx((0.8, 0.8, 2.0))


def test_generated_enhanced_ct_with_a_missing_frame_is_rejected(tmp_path, limits, scratch):
    values = ct_phantom(6, 16)
    positions = np.array([[0.0, 0.0, 2.0 * k] for k in (0, 1, 2, 4, 5, 6)])
    path = write_enhanced(tmp_path / "gap.dcm", values, positions=positions)
    with pytest.raises(Exception) as excinfo:
        load_sources([path], limits)
    assert_rejected(excinfo, "gap.dcm frame 3", "gap.dcm frame 4", "slices are missing")
    assert_clean(scratch)


def test_sixteen_bit_grey_clip_is_scaled_to_uint8(tmp_path, limits):
    frames = np.linspace(1000, 5000, 5 * 8 * 10).reshape(5, 8, 10).astype(np.uint16)
    timing = {"FrameTimeVector": ["0", "25", "25", "25", "25"]}
    path = write_cine(tmp_path / "grey.dcm", frames, frame_timing=timing)
    (clip,) = load_sources([path], limits)
    assert clip.kind == "video" and clip.array.dtype == np.uint8
    assert clip.array.min() == 0 and clip.array.max() == 255
    assert clip.frame_rate == pytest.approx(40.0)
    assert clip.spacing == (1.0, 1.0, 1.0)  # no spacing in the header


def test_rgb_and_monochrome1_clips(tmp_path, limits):
    rgb = np.zeros((3, 4, 6, 3), np.uint8)
    rgb[..., 0] = 200  # pure red → luminance 0.299 * 200
    (clip,) = load_sources([write_cine(tmp_path / "rgb.dcm", rgb)], limits)
    assert np.all(clip.array == 60)
    grey = np.full((3, 4, 6), 10, np.uint8)
    path = write_cine(tmp_path / "m1.dcm", grey, photometric="MONOCHROME1")
    (clip,) = load_sources([path], limits)
    assert np.all(clip.array == 245)
