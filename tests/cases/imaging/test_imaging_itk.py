"""MetaImage (.mha, .mhd + .raw) and NRRD (.nrrd, .nhdr + .raw) through SimpleITK: geometry in
the project's LPS convention (round trip through the canonical NIfTI, and the same as the NIfTI
reader for the same image), 2-D+t sequences, and headers that lie refused before SimpleITK
allocates what they declare."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from annotator.cases.imaging import (
    ImportLimits,
    ImportRejected,
    as_clip,
    load_sources,
    load_upload,
    read_canonical_nifti,
    write_canonical_nifti,
)
from tests.hostile import peak_allocated
from tests.videos import sitk_volume

WRITERS = {
    "mha": ("image.mha", False),
    "mha-compressed": ("image.mha", True),
    "mhd": ("image.mhd", False),
    "mhd-compressed": ("image.mhd", True),
    "nrrd": ("image.nrrd", False),
    "nrrd-gzip": ("image.nrrd", True),
    "nhdr": ("image.nhdr", False),
}


def _write(folder: Path, image, kind: str) -> Path:
    name, compress = WRITERS[kind]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    sitk.WriteImage(image, str(path), compress)
    return path


@pytest.mark.parametrize("kind", list(WRITERS))
def test_geometry_round_trips_through_the_canonical_nifti(tmp_path: Path, limits, kind):
    image, array = sitk_volume()
    path = _write(tmp_path / "in", image, kind)
    sources = [path.parent] if kind in ("mhd", "mhd-compressed", "nhdr") else [path]
    (volume,) = load_sources(sources, limits)
    assert volume.kind == "volume" and volume.source_format in ("metaimage", "nrrd")
    np.testing.assert_array_equal(volume.array, array)
    assert volume.array.dtype == np.int16
    np.testing.assert_allclose(volume.spacing, image.GetSpacing(), atol=1e-9)
    np.testing.assert_allclose(volume.origin, image.GetOrigin(), atol=1e-9)
    np.testing.assert_allclose(volume.direction, image.GetDirection(), atol=1e-9)
    assert volume.may_be_clip

    canonical = tmp_path / "canonical.nii.gz"
    write_canonical_nifti(volume, canonical)
    back = read_canonical_nifti(canonical)
    np.testing.assert_array_equal(back.array, array)
    np.testing.assert_allclose(back.spacing, volume.spacing, atol=1e-5)
    np.testing.assert_allclose(back.origin, volume.origin, atol=1e-5)
    np.testing.assert_allclose(back.direction, volume.direction, atol=1e-5)
    # SimpleITK reads the canonical file with the same geometry as the source.
    again = sitk.ReadImage(str(canonical))
    np.testing.assert_allclose(again.GetSpacing(), image.GetSpacing(), atol=1e-5)
    np.testing.assert_allclose(again.GetOrigin(), image.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(again.GetDirection(), image.GetDirection(), atol=1e-5)


def test_same_geometry_as_the_nifti_reader(tmp_path: Path, limits):
    image, _ = sitk_volume()
    sitk.WriteImage(image, str(tmp_path / "same.nii.gz"))
    sitk.WriteImage(image, str(tmp_path / "same.mha"))
    (nifti,) = load_sources([tmp_path / "same.nii.gz"], limits)
    (meta,) = load_sources([tmp_path / "same.mha"], limits)
    np.testing.assert_array_equal(nifti.array, meta.array)
    np.testing.assert_allclose(nifti.spacing, meta.spacing, atol=1e-5)
    np.testing.assert_allclose(nifti.origin, meta.origin, atol=1e-4)
    np.testing.assert_allclose(nifti.direction, meta.direction, atol=1e-5)


def test_mhd_and_raw_in_a_zip_are_paired_by_name(tmp_path: Path, limits):
    image, array = sitk_volume()
    path = _write(tmp_path / "src", image, "mhd")
    bundle = tmp_path / "camus.zip"
    with zipfile.ZipFile(bundle, "w") as zf:
        zf.write(path, "patient0001/image.mhd")
        zf.write(path.with_suffix(".raw"), "patient0001/image.raw")
    (volume,) = load_sources([bundle], limits)
    assert volume.source_name == "camus.zip/patient0001/image.mhd"
    np.testing.assert_array_equal(volume.array, array)


def test_mhd_and_raw_as_two_uploads(tmp_path: Path, limits):
    image, array = sitk_volume()
    path = _write(tmp_path / "src", image, "mhd")
    (volume,) = load_sources([path, path.with_suffix(".raw")], limits)
    np.testing.assert_array_equal(volume.array, array)


def test_header_without_its_data_file_is_refused(tmp_path: Path, limits):
    image, _ = sitk_volume()
    path = _write(tmp_path / "src", image, "mhd")
    with pytest.raises(ImportRejected, match=r"image\.mhd: its data file 'image\.raw' is not in"):
        load_upload("image.mhd", path, limits)


def test_unclaimed_raw_file_is_still_refused(tmp_path: Path, limits):
    image, _ = sitk_volume()
    path = _write(tmp_path / "src", image, "mha")
    (tmp_path / "src" / "stray.raw").write_bytes(b"\x01\x02" * 100)
    with pytest.raises(ImportRejected, match=r"src/stray\.raw: is neither DICOM nor NIfTI"):
        load_sources([path.parent], limits)


@pytest.mark.parametrize("ref", ["../secret.raw", "/etc/passwd", "C:/x.raw", "img_%03d.raw 1 5 1"])
def test_data_file_outside_the_folder_or_a_pattern_is_refused(tmp_path: Path, limits, ref):
    (tmp_path / "secret.raw").write_bytes(b"\0" * 48)
    folder = tmp_path / "in"
    folder.mkdir()
    header = folder / "x.mhd"
    header.write_text(
        f"ObjectType = Image\nNDims = 3\nDimSize = 2 2 2\nElementType = MET_UCHAR\n"
        f"ElementDataFile = {ref}\n"
    )
    with pytest.raises(ImportRejected, match=r"x\.mhd: (names a data file outside|.*split over)"):
        load_sources([folder], limits)


def test_2d_plus_t_metaimage_is_a_clip(tmp_path: Path, limits):
    frames = (np.arange(5 * 8 * 9) % 256).astype(np.uint8).reshape(5, 1, 8, 9)
    image = sitk.GetImageFromArray(frames, isVector=False)
    image.SetSpacing((0.3, 0.3, 1.0, 0.05))
    sitk.WriteImage(image, str(tmp_path / "seq.mha"))
    notes: list[str] = []
    (clip,) = load_sources([tmp_path / "seq.mha"], limits, notes=notes)
    assert clip.kind == "video" and clip.array.shape == (5, 8, 9)
    assert clip.array.dtype == np.uint8 and clip.window == (127.5, 255.0)
    assert clip.spacing == (pytest.approx(0.3), pytest.approx(0.3), 1.0)
    np.testing.assert_array_equal(clip.array, frames[:, 0])
    assert any("2-D+t" in n for n in notes)


def test_nrrd_with_a_time_axis_is_a_clip(tmp_path: Path, limits):
    frames = (np.arange(4 * 6 * 7) % 200).astype(np.uint8).reshape(4, 6, 7)
    path = tmp_path / "cine.nrrd"
    header = (
        "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 7 6 4\nkinds: domain domain time\n"
        "spacings: 0.2 0.2 0.04\nendian: little\nencoding: raw\n\n"
    )
    path.write_bytes(header.encode() + frames.tobytes())
    (clip,) = load_sources([path], limits)
    assert clip.kind == "video"
    np.testing.assert_array_equal(clip.array, frames)


def test_camus_style_3d_sequence_becomes_a_clip_on_request(tmp_path: Path, limits):
    array = (np.arange(10 * 12 * 14) % 256).astype(np.uint8).reshape(10, 12, 14)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.154, 0.154, 1.0))
    sitk.WriteImage(image, str(tmp_path / "patient0001_2CH_half_sequence.mhd"))
    (volume,) = load_sources([tmp_path], limits)
    assert volume.kind == "volume" and volume.may_be_clip
    clip = as_clip(volume)
    assert clip.kind == "video" and clip.array.dtype == np.uint8
    np.testing.assert_array_equal(clip.array, array)
    assert clip.spacing == (pytest.approx(0.154), pytest.approx(0.154), 1.0)
    assert clip.fingerprint == volume.fingerprint


def test_2d_image_is_a_one_slice_volume(tmp_path: Path, limits):
    image = sitk.GetImageFromArray(np.arange(20, dtype=np.float32).reshape(4, 5) / 3)
    image.SetSpacing((0.5, 0.25))
    sitk.WriteImage(image, str(tmp_path / "still.nrrd"))
    (volume,) = load_sources([tmp_path / "still.nrrd"], limits)
    assert volume.array.shape == (1, 4, 5) and volume.array.dtype == np.float32
    assert volume.spacing == (0.5, 0.25, 1.0)


@pytest.mark.parametrize("name", ["bomb.mha", "bomb.nrrd"])
def test_header_bomb_is_refused_before_anything_is_allocated(tmp_path: Path, limits, name):
    """A few bytes declaring 1024³ int16 (2 GiB), raw or compressed: refused from the header
    and the bytes present, never handed to SimpleITK."""
    path = tmp_path / name
    for compressed in (False, True):
        if name.endswith(".mha"):
            flag = "True" if compressed else "False"
            head = (
                "ObjectType = Image\nNDims = 3\nDimSize = 1024 1024 1024\n"
                f"ElementType = MET_SHORT\nCompressedData = {flag}\nElementDataFile = LOCAL\n"
            )
        else:
            encoding = "gzip" if compressed else "raw"
            head = (
                "NRRD0004\ntype: short\ndimension: 3\nsizes: 1024 1024 1024\nendian: little\n"
                f"encoding: {encoding}\n\n"
            )
        path.write_bytes(head.encode() + b"\x78\x9c" + b"\0" * 64)
        peak, outcome = peak_allocated(lambda: load_sources([path], limits))
        assert isinstance(outcome, ImportRejected), outcome
        assert "declares" in str(outcome) and str(outcome).startswith(name)
        assert peak < 16 * 1024 * 1024, peak


def test_compressed_data_that_inflates_short_is_refused(tmp_path: Path, limits):
    """Within deflate's ratio, but the stream holds less than declared: the counting pass
    finds out without keeping what it inflates."""
    import zlib

    data = zlib.compress(b"\0" * 1000)
    path = tmp_path / "short.mha"
    path.write_bytes(
        b"ObjectType = Image\nNDims = 3\nDimSize = 100 100 100\nElementType = MET_UCHAR\n"
        b"CompressedData = True\nElementDataFile = LOCAL\n" + data + b"\0" * 2000
    )
    with pytest.raises(ImportRejected, match=r"short\.mha: .*compressed data holds 1000"):
        load_sources([path], limits)


@pytest.mark.parametrize("kind", ["mha", "nrrd", "mhd"])
def test_truncated_file_is_refused(tmp_path: Path, limits, kind):
    image, _ = sitk_volume()
    path = _write(tmp_path / "src", image, kind)
    data_file = path.with_suffix(".raw") if kind == "mhd" else path
    data = data_file.read_bytes()
    data_file.write_bytes(data[: len(data) - 100])
    with pytest.raises(ImportRejected, match=r"image\.(mha|nrrd|mhd): .*truncated"):
        load_sources([path.parent], limits)


def test_truncated_compressed_file_is_refused(tmp_path: Path, limits):
    image, _ = sitk_volume((20, 30, 40))
    path = _write(tmp_path / "src", image, "nrrd-gzip")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImportRejected, match=r"image\.nrrd: .*(truncated|corrupt)"):
        load_sources([path], limits)


def test_too_many_voxels_is_refused(tmp_path: Path, scratch):
    image, _ = sitk_volume()
    path = _write(tmp_path, image, "mha")
    small = ImportLimits(scratch_dir=scratch, max_voxels=100)
    with pytest.raises(ImportRejected, match=r"image\.mha: 14x10x6 voxels is more than the limit"):
        load_sources([path], small)


@pytest.mark.parametrize(
    "text",
    [
        "ObjectType = Image\nNDims = 3\nDimSize = 4 4\nElementType = MET_SHORT\n"
        "ElementDataFile = LOCAL\n",
        "ObjectType = Image\nNDims = three\n",
        "ObjectType = Image\nNDims = 3\nDimSize = 2 2 2\nElementType = MET_RGB\n"
        "ElementDataFile = LOCAL\n",
        "ObjectType = Image\nNDims = 2\nDimSize = 2 2\nElementType = MET_UCHAR\n"
        "ElementNumberOfChannels = 3\nElementDataFile = LOCAL\n",
        "NRRD0004\ntype: short\ndimension: 3\nsizes: 2 2\nencoding: raw\n\n",
        "NRRD0004\ntype: short\ndimension: 2\nsizes: 2 2\nencoding: hex\n\n",
        "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 3 2 2\nkinds: RGB-color domain domain\n"
        "encoding: raw\n\n",
    ],
    ids=["dims", "ndims", "type", "channels", "nrrd-sizes", "nrrd-hex", "nrrd-rgb"],
)
def test_garbage_headers_are_refused_with_a_clear_message(tmp_path: Path, limits, text):
    path = tmp_path / "bad.img"
    path.write_bytes(text.encode() + b"\0" * 64)
    with pytest.raises(ImportRejected, match=r"^bad\.img: "):
        load_sources([path], limits)
