"""NIfTI uploads and the canonical NIfTI file (round trip, geometry, atomic write)."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from annotator.cases.imaging import (
    ImageVolume,
    load_sources,
    load_upload,
    read_canonical_nifti,
    write_canonical_nifti,
)
from annotator.cases.imaging import nifti as nifti_module
from annotator.cases.imaging.geometry import ras_affine

from .helpers import assert_clean, assert_rejected


def rotated_affine() -> np.ndarray:
    """RAS affine with a rotation about z, a flipped axis and anisotropic voxels."""
    angle = np.radians(30)
    rotation = np.array(
        [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, -1.0]]
    )
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([0.9, 0.7, 2.5])
    affine[:3, 3] = [12.0, -40.0, 7.5]
    return affine


def save_nifti(path: Path, data: np.ndarray, affine=None, **header) -> Path:
    image = nib.Nifti1Image(data, rotated_affine() if affine is None else affine)
    for key, value in header.items():
        image.header[key] = value
    nib.save(image, str(path))
    return path


@pytest.fixture
def hu() -> np.ndarray:
    rng = np.random.default_rng(1)
    data = rng.integers(-1024, 1500, size=(20, 16, 9), dtype=np.int16)  # (x, y, z)
    return data


def test_nifti_volume_matches_simpleitk(tmp_path, hu, limits, scratch):
    path = save_nifti(tmp_path / "case03.nii.gz", hu)
    (volume,) = load_sources([path], limits)
    image = sitk.ReadImage(str(path))
    assert volume.array.shape == (9, 16, 20)
    np.testing.assert_array_equal(volume.array, sitk.GetArrayFromImage(image))
    np.testing.assert_allclose(volume.spacing, image.GetSpacing(), atol=1e-5)
    np.testing.assert_allclose(volume.origin, image.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(volume.direction, image.GetDirection(), atol=1e-5)
    assert volume.array.dtype == np.int16
    assert volume.modality == "CT" and volume.window == (40.0, 400.0)
    assert volume.source_format == "nifti" and volume.source_name == "case03.nii.gz"
    assert volume.dicom is None
    assert_clean(scratch)


def test_nifti_fingerprint_depends_on_content_and_geometry(tmp_path, hu, limits):
    a = load_sources([save_nifti(tmp_path / "a.nii", hu)], limits)[0].fingerprint
    b = load_sources([save_nifti(tmp_path / "b.nii.gz", hu)], limits)[0].fingerprint
    shifted = rotated_affine()
    shifted[0, 3] += 1
    c = load_sources([save_nifti(tmp_path / "c.nii", hu, shifted)], limits)[0].fingerprint
    d = load_sources([save_nifti(tmp_path / "d.nii", hu + 1)], limits)[0].fingerprint
    assert a == b
    assert len({a, c, d}) == 3


def test_nifti_scaling_and_dtypes(tmp_path, limits):
    stored = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)
    image = nib.Nifti1Image(stored, np.eye(4))
    image.header.set_slope_inter(2.0, -1024.0)
    nib.save(image, str(tmp_path / "scaled.nii"))
    (volume,) = load_sources([tmp_path / "scaled.nii"], limits)
    assert volume.array.dtype == np.int16
    np.testing.assert_array_equal(volume.array, stored.T * 2 - 1024)

    floats = np.full((4, 4, 3), 1.5, dtype=np.float32)
    (volume,) = load_sources([save_nifti(tmp_path / "f.nii", floats)], limits)
    assert volume.array.dtype == np.float32 and volume.modality == "OT"

    integral = np.full((4, 4, 3), -1000.0, dtype=np.float64)
    (volume,) = load_sources([save_nifti(tmp_path / "i.nii", integral)], limits)
    assert volume.array.dtype == np.int16


def test_nifti_4d_with_one_volume_is_a_volume(tmp_path, hu, limits):
    (volume,) = load_sources([save_nifti(tmp_path / "t1.nii", hu[..., None])], limits)
    assert volume.kind == "volume" and volume.array.shape == (9, 16, 20)


def test_nifti_2d_plus_time_is_a_clip(tmp_path, limits):
    data = np.random.default_rng(0).integers(0, 255, (32, 24, 1, 10), dtype=np.uint8)
    image = nib.Nifti1Image(data, np.diag([0.3, 0.3, 1, 1]))
    image.header.set_xyzt_units("mm", "msec")
    image.header["pixdim"][4] = 40.0
    nib.save(image, str(tmp_path / "echo.nii.gz"))
    notes: list[str] = []
    (clip,) = load_sources([tmp_path / "echo.nii.gz"], limits, notes=notes)
    assert clip.kind == "video" and clip.array.shape == (10, 24, 32)
    assert clip.frame_rate == pytest.approx(25.0)
    assert clip.spacing == pytest.approx((0.3, 0.3, 1.0))
    np.testing.assert_array_equal(clip.array[3], data[:, :, 0, 3].T)
    assert notes


def test_nifti_with_nan_voxels(tmp_path, limits):
    data = np.ones((4, 4, 4), dtype=np.float32)
    data[1, 1, 1] = np.nan
    notes: list[str] = []
    (volume,) = load_sources([save_nifti(tmp_path / "nan.nii", data)], limits, notes=notes)
    assert np.isfinite(volume.array).all() and volume.array[1, 1, 1] == 0
    assert any("NaN" in n for n in notes)


def test_sheared_sform_falls_back_to_qform(tmp_path, hu, limits):
    image = nib.Nifti1Image(hu, rotated_affine())
    sheared = rotated_affine()
    sheared[0, 1] += 0.5
    image.set_sform(sheared, code=2)
    image.set_qform(rotated_affine(), code=1)
    nib.save(image, str(tmp_path / "shear.nii"))
    (volume,) = load_sources([tmp_path / "shear.nii"], limits)
    expected = nib.load(str(tmp_path / "shear.nii")).get_qform()
    np.testing.assert_allclose(ras_affine(volume.spacing, volume.origin, volume.direction),
                               expected, atol=1e-5)  # fmt: skip


def test_sheared_affine_without_qform_is_rejected(tmp_path, hu, limits, scratch):
    sheared = rotated_affine()
    sheared[0, 1] += 0.5
    image = nib.Nifti1Image(hu, sheared)
    image.set_qform(None, code=0)
    nib.save(image, str(tmp_path / "shear.nii"))
    with pytest.raises(Exception) as excinfo:
        load_sources([tmp_path / "shear.nii"], limits)
    assert_rejected(excinfo, "shear.nii", "not perpendicular")
    assert_clean(scratch)


@pytest.mark.parametrize(("shape", "needle"), [((4, 4, 3, 2), "4-D"), ((4, 4, 3, 1, 2), "5-D")])
def test_nifti_with_too_many_dimensions(tmp_path, limits, scratch, shape, needle):
    path = save_nifti(tmp_path / "multi.nii.gz", np.zeros(shape, np.int16))
    with pytest.raises(Exception) as excinfo:
        load_sources([path], limits)
    assert_rejected(excinfo, "multi.nii.gz", needle, "3-D")
    assert_clean(scratch)


def test_truncated_and_corrupt_gzip(tmp_path, hu, limits, scratch):
    good = save_nifti(tmp_path / "good.nii.gz", hu).read_bytes()
    (tmp_path / "cut.nii.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(Exception) as excinfo:
        load_sources([tmp_path / "cut.nii.gz"], limits)
    assert_rejected(excinfo, "cut.nii.gz", "corrupt or truncated")
    bad = bytearray(good)
    bad[len(bad) // 2 : len(bad) // 2 + 40] = bytes(40)
    (tmp_path / "rot.nii.gz").write_bytes(bytes(bad))
    with pytest.raises(Exception) as excinfo:
        load_sources([tmp_path / "rot.nii.gz"], limits)
    assert_rejected(excinfo, "rot.nii.gz", "corrupt")
    (tmp_path / "hdr.nii.gz").write_bytes(good[:60])  # not even a whole header
    with pytest.raises(Exception) as excinfo:
        load_sources([tmp_path / "hdr.nii.gz"], limits)
    assert_rejected(excinfo, "hdr.nii.gz")
    assert_clean(scratch)


def test_truncated_uncompressed_nifti(tmp_path, hu, limits):
    good = save_nifti(tmp_path / "good.nii", hu).read_bytes()
    (tmp_path / "cut.nii").write_bytes(good[:-100])
    with pytest.raises(Exception) as excinfo:
        load_sources([tmp_path / "cut.nii"], limits)
    assert_rejected(excinfo, "cut.nii", "corrupt or truncated")


def test_gzip_that_is_not_nifti(tmp_path, limits, scratch):
    (tmp_path / "notes.gz").write_bytes(gzip.compress(b"just text" * 100))
    with pytest.raises(Exception) as excinfo:
        load_sources([tmp_path / "notes.gz"], limits)
    assert_rejected(excinfo, "notes.gz", "not a NIfTI")


def test_analyze_pair_header_is_rejected(tmp_path, hu, limits):
    nib.save(nib.Nifti1Pair(hu, np.eye(4)), str(tmp_path / "pair.hdr"))
    with pytest.raises(Exception) as excinfo:
        load_sources([tmp_path / "pair.hdr"], limits)
    assert_rejected(excinfo, "pair.hdr", ".hdr/.img pair")


def test_nifti_upload_as_file_object(tmp_path, hu, limits, scratch):
    data = save_nifti(tmp_path / "x.nii.gz", hu).read_bytes()
    (volume,) = load_upload("patient_scan.nii.gz", io.BytesIO(data), limits)
    assert volume.source_name == "patient_scan.nii.gz"
    assert_clean(scratch)


# --------------------------------------------------------------------------- canonical file


def test_round_trip_of_a_dicom_volume(ct_folder, tmp_path, limits):
    (volume,) = load_sources([ct_folder], limits)
    out = tmp_path / "out" / "image.nii.gz"
    out.parent.mkdir()
    write_canonical_nifti(volume, out)
    back = read_canonical_nifti(out)
    np.testing.assert_array_equal(back.array, volume.array)
    assert back.array.dtype == volume.array.dtype
    np.testing.assert_allclose(back.affine_lps, volume.affine_lps, atol=1e-4)
    assert back.window == pytest.approx(volume.window)
    assert (back.kind, back.modality, back.frame_rate) == ("volume", "CT", None)
    assert sorted(p.name for p in out.parent.iterdir()) == ["image.nii.gz"]  # no temp files
    # Other readers see the same geometry.
    image = sitk.ReadImage(str(out))
    np.testing.assert_allclose(image.GetOrigin(), volume.origin, atol=1e-4)
    np.testing.assert_allclose(image.GetSpacing(), volume.spacing, atol=1e-5)
    np.testing.assert_allclose(image.GetDirection(), volume.direction, atol=1e-5)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), volume.array)
    nib_image = nib.load(str(out))
    np.testing.assert_allclose(
        nib_image.affine, ras_affine(volume.spacing, volume.origin, volume.direction), atol=1e-4
    )


def test_round_trip_of_an_oblique_nifti(tmp_path, hu, limits):
    (volume,) = load_sources([save_nifti(tmp_path / "in.nii.gz", hu)], limits)
    write_canonical_nifti(volume, tmp_path / "out.nii.gz")
    back = read_canonical_nifti(tmp_path / "out.nii.gz")
    np.testing.assert_array_equal(back.array, volume.array)
    np.testing.assert_allclose(nib.load(str(tmp_path / "out.nii.gz")).affine, rotated_affine(),
                               atol=1e-4)  # fmt: skip


def _clip(frames: int = 6) -> ImageVolume:
    rng = np.random.default_rng(2)
    return ImageVolume(
        array=rng.integers(0, 256, (frames, 24, 32), dtype=np.uint8),
        spacing=(0.25, 0.25, 1.0),
        origin=(0.0, 0.0, 0.0),
        direction=(1, 0, 0, 0, 1, 0, 0, 0, 1),
        modality="US",
        kind="video",
        frame_rate=29.97,
        window=(127.5, 255.0),
        source_format="dicom-multiframe",
        fingerprint="f" * 64,
        source_name="clip.dcm",
        description="US cine",
    )


def test_round_trip_of_a_clip(tmp_path):
    clip = _clip()
    write_canonical_nifti(clip, tmp_path / "clip.nii.gz")
    back = read_canonical_nifti(tmp_path / "clip.nii.gz")
    np.testing.assert_array_equal(back.array, clip.array)
    assert (back.kind, back.modality) == ("video", "US")
    assert back.frame_rate == pytest.approx(29.97)
    assert back.window == pytest.approx((127.5, 255.0))


def test_canonical_file_is_plain_and_deterministic(tmp_path):
    clip = _clip()
    write_canonical_nifti(clip, tmp_path / "a.nii.gz")
    write_canonical_nifti(clip, tmp_path / "b.nii.gz")
    raw = (tmp_path / "a.nii.gz").read_bytes()
    assert raw == (tmp_path / "b.nii.gz").read_bytes()
    assert raw[3] == 0  # gzip flags: no file name, no comment
    assert raw[4:8] == b"\0\0\0\0"  # no time stamp
    header = nib.load(str(tmp_path / "a.nii.gz")).header
    assert header["descrip"].item() == b"medsam2 kind=video mod=US fps=29.97"
    assert header["aux_file"].item() == b""
    plain = gzip.decompress(raw)
    assert np.frombuffer(plain[108:112], "<f4")[0] == 352.0  # vox_offset
    assert plain[348:352] == b"\0\0\0\0"  # no header extensions


def test_large_volume_is_compressed_in_chunks(tmp_path):
    """More than one compression chunk: the concatenated deflate stream must still be valid."""
    rng = np.random.default_rng(3)
    array = rng.integers(-50, 50, (40, 256, 256), dtype=np.int16)  # 5 MiB > one 4 MiB chunk
    volume = ImageVolume(
        array=array, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0),
        direction=(1, 0, 0, 0, 1, 0, 0, 0, 1), modality="CT", kind="volume", frame_rate=None,
        window=None, source_format="nifti", fingerprint="", source_name="", description="",
    )  # fmt: skip
    write_canonical_nifti(volume, tmp_path / "big.nii.gz")
    back = read_canonical_nifti(tmp_path / "big.nii.gz")
    np.testing.assert_array_equal(back.array, array)
    assert back.window is None


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    target = tmp_path / "image.nii.gz"
    target.write_bytes(b"previous version")

    def boom(fh, parts):
        fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(nifti_module, "_write_gzip", boom)
    with pytest.raises(OSError, match="disk full"):
        write_canonical_nifti(_clip(), target)
    assert target.read_bytes() == b"previous version"
    assert [p.name for p in tmp_path.iterdir()] == ["image.nii.gz"]


def test_write_rejects_non_canonical_arrays(tmp_path):
    clip = _clip()
    clip.array = clip.array.astype(np.int64)
    with pytest.raises(ValueError, match="int16, float32 or uint8"):
        write_canonical_nifti(clip, tmp_path / "x.nii.gz")
    assert list(tmp_path.iterdir()) == []


def test_nifti2_is_read(tmp_path, hu, limits):
    nib.save(nib.Nifti2Image(hu, rotated_affine()), str(tmp_path / "two.nii"))
    (volume,) = load_sources([tmp_path / "two.nii"], limits)
    (reference,) = load_sources([save_nifti(tmp_path / "one.nii", hu)], limits)
    np.testing.assert_array_equal(volume.array, reference.array)
    np.testing.assert_allclose(volume.affine_lps, reference.affine_lps, atol=1e-5)
