"""Every bad DICOM input is rejected with a specific message and leaves nothing behind."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate

from annotator.cases.imaging import ImportLimits, load_sources, load_upload
from annotator.cases.imaging.synthetic import write_series

from .helpers import assert_clean, assert_rejected, data_file, dicomdir_tests


def reject(paths, limits, *needles):
    with pytest.raises(Exception) as excinfo:
        load_sources(paths, limits)
    return assert_rejected(excinfo, *needles)


def test_missing_middle_slice(ct_folder, limits, scratch):
    files = sorted(ct_folder.iterdir(), key=lambda p: float(pydicom.dcmread(p).SliceLocation))
    files[6].unlink()
    message = reject([ct_folder], limits, "slices are missing", "4.00 mm", "2.00 mm", "case01/")
    assert "about 1 slice missing" in message
    assert_clean(scratch)


def test_real_series_with_a_large_gap(limits, scratch):
    reject([dicomdir_tests() / "77654033" / "CT2"], limits, "slices are missing", "202.50 mm")
    assert_clean(scratch)


def test_mixed_orientation_in_one_series(tmp_path, small_ct, limits, scratch):
    folder = tmp_path / "mixed"
    write_series(folder, small_ct[:6], series_uid="1.2.826.0.1.99.1", shuffle_names=False)
    other = tmp_path / "other"
    write_series(
        other, small_ct[6:], series_uid="1.2.826.0.1.99.1", orientation=(1, 0, 0, 0, 0, -1)
    )
    for path in other.iterdir():
        shutil.move(path, folder / f"cor_{path.name}")
    reject([folder], limits, "2 different orientations", "mixed/", "each orientation")
    assert_clean(scratch)


def test_real_multiplanar_series(limits, scratch):
    reject([dicomdir_tests() / "98892003" / "MR700"], limits, "7 different orientations")


def test_duplicate_positions(ct_folder, tmp_path, limits, scratch):
    first = sorted(ct_folder.iterdir())[0]
    ds = pydicom.dcmread(first)
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(ct_folder / "echo2.dcm")
    reject([ct_folder], limits, "same position", "one image per position")
    assert_clean(scratch)


def _edit(path: Path, **changes) -> None:
    ds = pydicom.dcmread(path)
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    ds.save_as(path)


def test_inconsistent_pixel_spacing(ct_folder, limits, scratch):
    _edit(sorted(ct_folder.iterdir())[3], PixelSpacing=["0.9", "0.9"])
    reject([ct_folder], limits, "pixel spacing differs", "0.9x0.9 mm")
    assert_clean(scratch)


def test_inconsistent_image_size(ct_folder, limits, scratch):
    path = sorted(ct_folder.iterdir())[3]
    ds = pydicom.dcmread(path)
    ds.Rows, ds.Columns = 16, 16
    ds.PixelData = np.zeros((16, 16), np.uint16).tobytes()
    ds.save_as(path)
    reject([ct_folder], limits, "different sizes", "16x16")
    assert_clean(scratch)


def test_irregular_spacing(tmp_path, small_ct, limits, scratch):
    folder = tmp_path / "irregular"
    paths = write_series(folder, small_ct, spacing=(0.8, 0.6, 2.0), shuffle_names=False)
    # shift the upper half by 0.8 mm: one gap of 2.8 mm (< 1.5 x 2 mm), a stepped grid
    for k, path in enumerate(paths):
        if k >= 6:
            _edit(path, ImagePositionPatient=[-180.0, -180.0, -100.0 + 2.0 * k + 0.8])
    reject([folder], limits, "irregular", "2.00 to 2.80 mm")
    assert_clean(scratch)


def test_gantry_tilt(tmp_path, small_ct, limits, scratch):
    folder = tmp_path / "tilt"
    paths = write_series(folder, small_ct, spacing=(0.8, 0.6, 2.0), shuffle_names=False)
    for k, path in enumerate(paths):  # y shifts 0.35 mm per slice: ~10 degrees of tilt
        _edit(path, ImagePositionPatient=[-180.0, -180.0 + 0.35 * k, -100.0 + 2.0 * k])
    reject([folder], limits, "gantry tilt", "drift sideways")
    assert_clean(scratch)


def test_geometry_missing_in_some_images(ct_folder, limits, scratch):
    path = sorted(ct_folder.iterdir())[2]
    ds = pydicom.dcmread(path)
    del ds.ImagePositionPatient
    ds.save_as(path)
    reject([ct_folder], limits, path.name, "lacks ImagePositionPatient")
    assert_clean(scratch)


def _with_syntax(source: Path, target: Path, uid: bytes) -> None:
    """Re-label an encapsulated file with a transfer syntax pydicom cannot write itself."""
    ds = pydicom.dcmread(source)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.201"  # same padded length as uid
    ds.PixelData = encapsulate([b"\xff\x0a" + bytes(64)])
    ds["PixelData"].VR = "OB"
    ds.save_as(target)
    raw = target.read_bytes()
    target.write_bytes(raw.replace(b"1.2.840.10008.1.2.4.201\x00", uid + b"\x00"))


@pytest.mark.parametrize(
    ("uid", "name"),
    [
        (b"1.2.840.10008.1.2.4.110", "JPEG XL Lossless"),
        (b"1.3.6.1.4.1.99999.1.2.3", "unknown or private transfer syntax"),
    ],
)
def test_transfer_syntax_without_decoder(ct_folder, limits, scratch, uid, name):
    victim = sorted(ct_folder.iterdir())[5]
    _with_syntax(victim, victim, uid)
    reject([ct_folder], limits, victim.name, name, uid.decode(), "cannot decode")
    assert_clean(scratch)


def test_decoder_plugin_not_installed(ct_folder, limits, scratch, monkeypatch):
    import pydicom.pixels

    class Missing:
        is_available = False

    victim = sorted(ct_folder.iterdir())[0]
    _with_syntax(victim, victim, b"1.2.840.10008.1.2.4.201")
    monkeypatch.setattr(pydicom.pixels, "get_decoder", lambda uid: Missing())
    reject([ct_folder], limits, "High-Throughput JPEG 2000", "no decoder plugin")
    assert_clean(scratch)


def test_undecodable_compressed_pixel_data(ct_folder, limits, scratch):
    victim = sorted(ct_folder.iterdir())[1]
    _with_syntax(victim, victim, b"1.2.840.10008.1.2.4.201")  # a real syntax, garbage stream
    reject([ct_folder], limits, victim.name, "could not be decoded", "JPEG 2000")
    assert_clean(scratch)


def test_truncated_pixel_data(ct_folder, limits, scratch):
    victim = sorted(ct_folder.iterdir())[4]
    victim.write_bytes(victim.read_bytes()[:-500])
    reject([ct_folder], limits, victim.name, "truncated")
    assert_clean(scratch)


def test_truncated_header(tmp_path, limits, scratch):
    """pydicom-data's JPEG 2000 file that ends before its pixel data does."""
    folder = tmp_path / "short"
    folder.mkdir()
    shutil.copy(data_file("emri_small_jpeg_2k_lossless_too_short.dcm"), folder / "x.dcm")
    reject([folder], limits, "short/x.dcm", "damaged DICOM file")
    assert_clean(scratch)


def test_non_dicom_file_in_a_folder(ct_folder, limits, scratch):
    (ct_folder / "report.pdf").write_bytes(b"%PDF-1.7\n" + bytes(300))
    reject([ct_folder], limits, "case01/report.pdf", "neither DICOM nor NIfTI", "folder")
    assert_clean(scratch)


def test_empty_file_in_a_folder(ct_folder, limits, scratch):
    (ct_folder / "zero.dcm").write_bytes(b"")
    reject([ct_folder], limits, "case01/zero.dcm", "empty")


def test_folder_with_only_os_litter(tmp_path, limits, scratch):
    folder = tmp_path / "litter"
    (folder / "__MACOSX").mkdir(parents=True)
    (folder / "__MACOSX" / "._IM1").write_bytes(b"x")
    (folder / ".DS_Store").write_bytes(b"x")
    (folder / "Thumbs.db").write_bytes(b"x")
    reject([folder], limits, "litter", "no DICOM or NIfTI files")
    assert_clean(scratch)


def test_empty_folder_and_no_paths(tmp_path, limits):
    (tmp_path / "empty").mkdir()
    reject([tmp_path / "empty"], limits, "empty", "no DICOM or NIfTI")
    reject([], limits, "nothing to import")
    reject([tmp_path / "nope"], limits, "nope", "no such file")


def test_only_non_image_objects(tmp_path, limits, scratch):
    folder = tmp_path / "seg_only"
    folder.mkdir()
    shutil.copy(data_file("liver.dcm"), folder / "seg.dcm")
    reject([folder], limits, "no importable images", "SEG")
    assert_clean(scratch)


def test_voxel_limit(ct_folder, scratch):
    limits = ImportLimits(max_voxels=1000, scratch_dir=scratch)
    reject([ct_folder], limits, "40x32x12 voxels", "limit of 1000")
    assert_clean(scratch)


def test_empty_upload(limits, scratch):
    import io

    with pytest.raises(Exception) as excinfo:
        load_upload("scan.dcm", io.BytesIO(b""), limits)
    assert_rejected(excinfo, "scan.dcm", "empty")
    assert_clean(scratch)


def test_upload_over_the_size_limit_is_not_spooled_past_it(scratch):
    import io

    limits = ImportLimits(max_upload_bytes=1000, scratch_dir=scratch)
    with pytest.raises(Exception) as excinfo:
        load_upload("big.zip", io.BytesIO(bytes(5000)), limits)
    assert_rejected(excinfo, "big.zip", "larger than the limit")
    assert_clean(scratch)


def test_unknown_upload_content(limits, scratch):
    import io

    with pytest.raises(Exception) as excinfo:
        load_upload("notes.txt", io.BytesIO(b"hello, this is text" * 40), limits)
    assert_rejected(excinfo, "notes.txt", "neither DICOM nor NIfTI")
    assert_clean(scratch)


def test_dicomdir_alone_is_not_an_image(limits, scratch):
    reject([dicomdir_tests() / "DICOMDIR"], limits, "DICOMDIR", "not an image")
