"""Zip uploads: hostile or absurd archives are rejected before extraction, nothing is left."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest

from annotator.cases.imaging import ImportLimits, load_sources, load_upload

from .helpers import assert_clean, assert_rejected, data_file


def make_zip(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def series_members(folder: Path, prefix: str = "") -> dict[str, bytes]:
    return {prefix + p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def reject(paths, limits, *needles) -> str:
    with pytest.raises(Exception) as excinfo:
        load_sources(paths, limits)
    return assert_rejected(excinfo, *needles)


def test_zip_of_a_series_is_named_after_the_zip(tmp_path, ct_folder, limits, scratch):
    zip_path = make_zip(tmp_path / "case07.zip", series_members(ct_folder, "DICOM/"))
    (volume,) = load_sources([zip_path], limits)
    assert volume.source_name == "case07.zip"
    assert volume.array.shape == (12, 32, 40)
    assert_clean(scratch)


def test_upload_from_a_file_object(tmp_path, ct_folder, limits, scratch):
    zip_path = make_zip(tmp_path / "x.zip", series_members(ct_folder))
    with open(zip_path, "rb") as fh:
        (volume,) = load_upload("C:\\Users\\me\\case09.zip", fh, limits)
    assert volume.source_name == "case09.zip"
    assert_clean(scratch)


@pytest.mark.parametrize(
    "name", ["../evil.dcm", "a/../../evil.dcm", "/etc/evil.dcm", "C:/evil.dcm", "..\\evil.dcm"]
)
def test_path_traversal_is_rejected(tmp_path, ct_folder, limits, scratch, name):
    members = series_members(ct_folder)
    members[name] = b"payload"
    zip_path = make_zip(tmp_path / "evil.zip", members)
    reject([zip_path], limits, "evil.zip", "unsafe path", "not extracted")
    assert_clean(scratch)
    assert not (tmp_path / "evil.dcm").exists()


def test_symlink_member_is_rejected(tmp_path, ct_folder, limits, scratch):
    zip_path = tmp_path / "link.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        for name, data in series_members(ct_folder).items():
            zf.writestr(name, data)
        info = zipfile.ZipInfo("passwd.dcm")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    reject([zip_path], limits, "passwd.dcm", "symbolic link")
    assert_clean(scratch)


def test_too_many_members(tmp_path, ct_folder, scratch):
    zip_path = make_zip(tmp_path / "many.zip", series_members(ct_folder))
    limits = ImportLimits(max_members=5, scratch_dir=scratch)
    reject([zip_path], limits, "many.zip", "12 files", "limit is 5")
    assert_clean(scratch)


def test_total_uncompressed_size_over_limit(tmp_path, ct_folder, scratch):
    zip_path = make_zip(tmp_path / "big.zip", series_members(ct_folder))
    limits = ImportLimits(max_uncompressed_bytes=10_000, scratch_dir=scratch)
    reject([zip_path], limits, "big.zip", "unpacks to", "split the upload")
    assert_clean(scratch)


def test_compression_ratio_bomb(tmp_path, ct_folder, limits, scratch):
    members = series_members(ct_folder)
    members["zeros.dcm"] = bytes(8 * 1024 * 1024)  # deflates ~1000-fold
    zip_path = make_zip(tmp_path / "bomb.zip", members)
    reject([zip_path], limits, "zeros.dcm", "expands", "zip bomb")
    assert_clean(scratch)


def test_member_larger_than_its_header_claims(tmp_path, ct_folder, scratch):
    """A lying central directory: extraction stops at the declared size and fails the CRC."""
    zip_path = make_zip(tmp_path / "liar.zip", {"a.dcm": bytes(200_000)})
    raw = bytearray(zip_path.read_bytes())
    central = raw.rfind(b"PK\x01\x02")
    raw[central + 24 : central + 28] = (1000).to_bytes(4, "little")  # uncompressed size
    zip_path.write_bytes(bytes(raw))
    reject([zip_path], ImportLimits(scratch_dir=scratch), "liar.zip", "a.dcm")
    assert_clean(scratch)


def test_encrypted_member(tmp_path, ct_folder, limits, scratch):
    zip_path = make_zip(tmp_path / "secret.zip", series_members(ct_folder))
    raw = bytearray(zip_path.read_bytes())
    central = raw.find(b"PK\x01\x02")
    raw[central + 8] |= 0x1  # general purpose flag: encrypted
    zip_path.write_bytes(bytes(raw))
    reject([zip_path], limits, "secret.zip", "password-protected")
    assert_clean(scratch)


def test_nested_zip(tmp_path, ct_folder, limits, scratch):
    inner = make_zip(tmp_path / "inner.zip", series_members(ct_folder))
    outer = make_zip(tmp_path / "outer.zip", {"inner.zip": inner.read_bytes()})
    reject([outer], limits, "outer.zip/inner.zip", "zip inside a zip")
    assert_clean(scratch)


def test_non_image_member_is_named(tmp_path, ct_folder, limits, scratch):
    members = series_members(ct_folder, "scan/")
    members["scan/notes.txt"] = b"patient said hello"
    zip_path = make_zip(tmp_path / "study.zip", members)
    reject([zip_path], limits, "study.zip/scan/notes.txt", "neither DICOM nor NIfTI", "zip")
    assert_clean(scratch)


def test_empty_zip_and_zip_with_only_litter(tmp_path, limits, scratch):
    reject([make_zip(tmp_path / "empty.zip", {})], limits, "empty.zip", "zip is empty")
    litter = {"__MACOSX/._a": b"x", ".DS_Store": b"x", "Thumbs.db": b"x", "DICOMDIR": b"x"}
    reject([make_zip(tmp_path / "litter.zip", litter)], limits, "litter.zip", "zip is empty")
    assert_clean(scratch)


def test_corrupt_and_truncated_zip(tmp_path, ct_folder, limits, scratch):
    zip_path = make_zip(tmp_path / "cut.zip", series_members(ct_folder))
    zip_path.write_bytes(zip_path.read_bytes()[:-2000])
    reject([zip_path], limits, "cut.zip", "not a readable zip")
    data = bytearray(make_zip(tmp_path / "rot.zip", series_members(ct_folder)).read_bytes())
    data[200:260] = bytes(60)  # damage the first member's compressed data
    (tmp_path / "rot.zip").write_bytes(bytes(data))
    reject([tmp_path / "rot.zip"], limits, "rot.zip", "corrupt")
    assert_clean(scratch)


def test_upload_of_a_zip_holding_a_series_and_a_clip(tmp_path, ct_folder, limits, scratch):
    members = series_members(ct_folder, "ct/")
    members["clip/echo.dcm"] = data_file("examples_ybr_color.dcm").read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    buffer.seek(0)
    volumes = load_upload("mixed.zip", buffer, limits)
    assert sorted((v.kind, v.source_name) for v in volumes) == [
        ("video", "mixed.zip/clip/echo.dcm"),
        ("volume", "mixed.zip/ct"),
    ]
    assert_clean(scratch)


def test_folder_of_case_zips(tmp_path, ct_folder, small_ct, limits, scratch):
    from annotator.cases.imaging.synthetic import write_series

    batch = tmp_path / "batch"
    batch.mkdir()
    make_zip(batch / "case01.zip", series_members(ct_folder, "DICOM/"))
    write_series(tmp_path / "b", small_ct[:4], spacing=(1, 1, 3))
    make_zip(batch / "case02.zip", series_members(tmp_path / "b"))
    volumes = load_sources([batch], limits)
    assert [v.source_name for v in volumes] == ["batch/case01.zip", "batch/case02.zip"]
    assert [v.array.shape[0] for v in volumes] == [12, 4]
    assert_clean(scratch)


def test_upload_object_already_on_disk_is_not_copied(tmp_path, ct_folder, limits, scratch):
    zip_path = make_zip(tmp_path / "x.zip", series_members(ct_folder))

    class OnDisk:  # like Django's TemporaryUploadedFile
        def temporary_file_path(self):
            return str(zip_path)

        def read(self, size=-1):
            raise AssertionError("must not be read")

    (volume,) = load_upload("case11.zip", OnDisk(), limits)
    assert volume.source_name == "case11.zip"
