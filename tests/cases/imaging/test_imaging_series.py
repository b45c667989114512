"""Single-frame DICOM series: ordering, geometry (checked against SimpleITK), values, grouping."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.uid import JPEG2000Lossless, RLELossless

from annotator.cases.imaging import ImageVolume, load_sources, load_upload
from annotator.cases.imaging.synthetic import ct_phantom, write_series

from .helpers import assert_clean, data_file, dicomdir_tests


def sitk_series(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def assert_same_geometry(volume: ImageVolume, image: sitk.Image) -> None:
    assert volume.array.shape == image.GetSize()[::-1]
    np.testing.assert_allclose(volume.spacing, image.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(volume.origin, image.GetOrigin(), atol=1e-3)
    np.testing.assert_allclose(volume.direction, image.GetDirection(), atol=1e-4)


def test_shuffled_names_and_reversed_instance_numbers_sort_by_position(
    ct_folder, small_ct, limits, scratch
):
    (volume,) = load_sources([ct_folder], limits)
    assert volume.kind == "volume" and volume.modality == "CT"
    assert volume.array.dtype == np.int16
    np.testing.assert_array_equal(volume.array, small_ct)
    assert volume.spacing == pytest.approx((0.8, 0.6, 2.0))
    assert volume.origin == pytest.approx((-180.0, -180.0, -100.0))
    assert volume.direction == pytest.approx((1, 0, 0, 0, 1, 0, 0, 0, 1))
    assert volume.source_format == "dicom-series"
    assert volume.source_name == "case01"
    assert volume.window == (40.0, 400.0)
    assert volume.description == "CT, 12 slices, 40x32, 0.8x0.6x2 mm"
    # UIDs are kept in slice order for DICOM-SEG export.
    assert len(volume.dicom.sop_instance_uids) == 12
    assert len(set(volume.dicom.sop_instance_uids)) == 12
    assert_same_geometry(volume, sitk_series(ct_folder))
    assert_clean(scratch)


def test_oblique_series_matches_simpleitk(tmp_path, small_ct, limits):
    angle = np.radians(20)
    row = (np.cos(angle), np.sin(angle), 0.0)
    col = (0.0, np.cos(np.radians(10)), -np.sin(np.radians(10)))
    # make col exactly perpendicular to row
    col = np.asarray(col) - np.dot(col, row) * np.asarray(row)
    col /= np.linalg.norm(col)
    orientation = (*row, *col)
    folder = tmp_path / "oblique"
    write_series(folder, small_ct, orientation=orientation, origin=(10.0, -20.0, 35.5))
    (volume,) = load_sources([folder], limits)
    image = sitk_series(folder)
    assert_same_geometry(volume, image)
    np.testing.assert_array_equal(volume.array, sitk.GetArrayFromImage(image))
    direction = np.asarray(volume.direction).reshape(3, 3)
    np.testing.assert_allclose(direction[:, 0], row, atol=1e-5)
    np.testing.assert_allclose(direction[:, 2], np.cross(row, col), atol=1e-5)


def test_sagittal_series_with_descending_positions(tmp_path, small_ct, limits):
    """Slices written along -x: ordering follows the normal, origin is the lowest projection."""
    folder = tmp_path / "sag"
    orientation = (0, 1, 0, 0, 0, -1)  # normal = (-1, 0, 0)
    write_series(folder, small_ct, orientation=orientation, origin=(50.0, -10.0, 80.0))
    (volume,) = load_sources([folder], limits)
    assert_same_geometry(volume, sitk_series(folder))
    np.testing.assert_array_equal(volume.array, small_ct)


def test_rescale_slope_intercept_integral_gives_int16(tmp_path, limits):
    values = ct_phantom(4, 16).astype(np.float64)
    write_series(tmp_path / "s", values, slope=2.0, intercept=-2048.0)
    (volume,) = load_sources([tmp_path / "s"], limits)
    assert volume.array.dtype == np.int16
    # stored = (HU + 2048) / 2 rounded → HU is reproduced up to the slope's step.
    assert np.abs(volume.array.astype(np.float64) - values).max() <= 1.0


def test_fractional_slope_gives_float32(tmp_path, limits):
    values = np.linspace(0, 12.5, 4 * 16 * 16).reshape(4, 16, 16)
    write_series(tmp_path / "pt", values, modality="PT", slope=0.01, intercept=0.0, window=None)
    (volume,) = load_sources([tmp_path / "pt"], limits)
    assert volume.modality == "PT"
    assert volume.array.dtype == np.float32
    np.testing.assert_allclose(volume.array, values, atol=0.006)
    center, width = volume.window  # computed from percentiles: inside the data range
    assert 0 < center < 12.5 and 0 < width <= 12.5


def test_values_that_do_not_fit_int16_become_float32(tmp_path, limits):
    values = np.full((3, 8, 8), 40000.0)
    values[:, 0, 0] = 0
    write_series(tmp_path / "mr", values, modality="MR", slope=1.0, intercept=0.0)
    (volume,) = load_sources([tmp_path / "mr"], limits)
    assert volume.array.dtype == np.float32
    assert volume.array.max() == 40000.0


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless])
def test_compressed_series_decodes(tmp_path, small_ct, limits, syntax):
    folder = tmp_path / "compressed"
    write_series(folder, small_ct[:4], transfer_syntax=syntax)
    (volume,) = load_sources([folder], limits)
    np.testing.assert_array_equal(volume.array, small_ct[:4])
    assert volume.metadata["TransferSyntax"] in ("RLE Lossless", syntax.name)


def test_two_series_in_one_zip_become_two_volumes(tmp_path, small_ct, limits, scratch):
    write_series(tmp_path / "src" / "ct_a", small_ct[:5], series_number=2)
    write_series(tmp_path / "src" / "ct_b", small_ct[5:], series_number=3, study_uid="1.2.3.4")
    zip_path = tmp_path / "study.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        for path in sorted((tmp_path / "src").rglob("*.dcm")):
            zf.write(path, path.relative_to(tmp_path / "src").as_posix())
        zf.writestr("__MACOSX/ct_a/._x.dcm", b"junk")
        zf.writestr(".DS_Store", b"junk")
        zf.writestr("DICOMDIR", b"not really")
    volumes = load_sources([zip_path], limits)
    assert [v.source_name for v in volumes] == ["study.zip/ct_a", "study.zip/ct_b"]
    assert [v.array.shape[0] for v in volumes] == [5, 7]
    assert volumes[0].fingerprint != volumes[1].fingerprint
    assert_clean(scratch)


def test_two_series_in_one_flat_folder_get_distinct_names(tmp_path, small_ct, limits):
    folder = tmp_path / "flat"
    write_series(folder, small_ct[:3], series_number=1)
    write_series(folder, small_ct[3:6], series_number=2, seed=1)
    volumes = load_sources([folder], limits)
    assert sorted(v.source_name for v in volumes) == ["flat#1", "flat#2"]


def test_fingerprint_is_stable_across_reimport(ct_folder, tmp_path, limits):
    first = load_sources([ct_folder], limits)[0].fingerprint
    copy = tmp_path / "copy"
    shutil.copytree(ct_folder, copy)
    assert load_sources([copy], limits)[0].fingerprint == first


def test_same_files_given_twice_are_deduplicated(ct_folder, limits):
    notes: list[str] = []
    volumes = load_sources([ct_folder, ct_folder], limits, notes=notes)
    assert len(volumes) == 1 and volumes[0].array.shape[0] == 12
    assert any("appears twice" in n for n in notes)


def test_progress_is_reported(ct_folder, limits):
    calls = []
    load_sources([ct_folder], limits, progress=lambda d, t, m: calls.append((d, t, m)))
    assert calls[-1][0] == calls[-1][1] == 24  # 12 headers + 12 slices decoded
    assert all(d <= t for d, t, _ in calls)


def test_single_file_upload_of_one_slice(limits, scratch):
    path = data_file("CT_small.dcm")
    with open(path, "rb") as fh:
        (volume,) = load_upload("CT_small.dcm", fh, limits)
    assert volume.array.shape == (1, 128, 128)
    assert volume.spacing == pytest.approx((0.661468, 0.661468, 5.0))
    assert volume.source_name == "CT_small.dcm"
    image = sitk.ReadImage(str(path))
    np.testing.assert_allclose(volume.origin, image.GetOrigin(), atol=1e-4)
    np.testing.assert_array_equal(volume.array[0], sitk.GetArrayFromImage(image)[0])
    assert_clean(scratch)


def test_mr_small_keeps_its_window(limits):
    (volume,) = load_sources([data_file("MR_small.dcm")], limits)
    assert volume.modality == "MR"
    assert volume.window == (600.0, 1600.0)


def test_real_ct_series_from_dicomdir_tests(tmp_path, limits):
    """pydicom's CT5N: 5 slices, positions descending with InstanceNumber."""
    folder = dicomdir_tests() / "98892001" / "CT5N"
    (volume,) = load_sources([folder], limits)
    image = sitk_series(folder)
    assert_same_geometry(volume, image)
    np.testing.assert_array_equal(volume.array, sitk.GetArrayFromImage(image))


def test_localizer_series_is_skipped_with_a_note(limits):
    notes: list[str] = []
    volumes = load_sources([dicomdir_tests() / "98892001"], limits, notes=notes)
    assert len(volumes) == 1 and volumes[0].array.shape[0] == 5
    # The only volume of the folder is named after the folder.
    assert volumes[0].source_name == "98892001"
    assert any("localizer" in n for n in notes)


def test_non_image_objects_are_skipped_with_a_note(tmp_path, ct_folder, limits):
    shutil.copy(data_file("liver.dcm"), ct_folder / "seg.dcm")  # a DICOM-SEG
    notes: list[str] = []
    (volume,) = load_sources([ct_folder], limits, notes=notes)
    assert volume.array.shape[0] == 12
    assert any("SEG" in n for n in notes)


def test_radiographs_are_skipped_with_a_note(tmp_path, ct_folder, limits):
    shutil.copy(dicomdir_tests() / "77654033" / "CR1" / "6154", ct_folder / "cr")
    notes: list[str] = []
    (volume,) = load_sources([ct_folder], limits, notes=notes)
    assert volume.array.shape[0] == 12
    assert any("no patient geometry" in n for n in notes)


def test_positions_rounded_in_the_header_are_tolerated(tmp_path, limits):
    """Some scanners write ImagePositionPatient with one decimal: 0.625 mm steps then read
    0.6/0.7 mm; the stack is still regular and the spacing is the mean step."""
    values = ct_phantom(9, 16)
    paths = write_series(tmp_path / "r", values, spacing=(0.5, 0.5, 0.625), shuffle_names=False)
    for k, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        ds.ImagePositionPatient = [-180.0, -180.0, round(-100.0 + 0.625 * k, 1)]
        ds.save_as(path)
    (volume,) = load_sources([tmp_path / "r"], limits)
    assert volume.spacing[2] == pytest.approx(0.625, abs=0.02)
    np.testing.assert_array_equal(volume.array, values)


def _structured_report(path: Path) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "SR"
    ds.save_as(path, enforce_file_format=True)


def test_reports_and_dicomdirs_next_to_a_series(ct_folder, limits):
    _structured_report(ct_folder / "report.dcm")
    shutil.copy(dicomdir_tests() / "DICOMDIR", ct_folder / "DICOMDIR")
    shutil.copy(dicomdir_tests() / "DICOMDIR", ct_folder / "INDEX.DCM")  # found by content
    notes: list[str] = []
    (volume,) = load_sources([ct_folder], limits, notes=notes)
    assert volume.array.shape[0] == 12
    assert notes == ["skipped 1 non-image DICOM object(s): 1 SR"]


def test_upload_given_as_a_path(ct_folder, tmp_path, limits, scratch):
    one = sorted(ct_folder.iterdir())[0]
    (volume,) = load_upload("slice.dcm", one, limits)
    assert volume.array.shape[0] == 1 and volume.source_name == "slice.dcm"
    assert_clean(scratch)


def test_files_without_preamble_and_deflated_files(tmp_path, small_ct, limits):
    """Old exports without the 128-byte preamble, and Deflated Explicit VR Little Endian."""
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    folder = tmp_path / "legacy"
    paths = write_series(folder, small_ct[:4], shuffle_names=False)
    for k, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        if k % 2:
            ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
            ds.save_as(path, enforce_file_format=True)
        else:  # a bare implicit-VR data set: no preamble, no file meta
            del ds.file_meta
            ds.preamble = None
            ds.save_as(path, implicit_vr=True, little_endian=True)
            assert path.read_bytes()[:2] == b"\x08\x00"
    (volume,) = load_sources([folder], limits)
    np.testing.assert_array_equal(volume.array, small_ct[:4])
