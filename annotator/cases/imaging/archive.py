"""Safe zip handling: every check runs on the central directory BEFORE anything is extracted,
and members are extracted under generated names, so a hostile name can never escape."""

from __future__ import annotations

import re
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .volume import ImportLimits, ImportRejected

# Members smaller than this cannot exhaust anything, whatever their compression ratio.
RATIO_CHECK_MIN_BYTES = 1024 * 1024

_JUNK_NAMES = {".ds_store", "thumbs.db", "desktop.ini", "dicomdir"}


@dataclass(frozen=True)
class Member:
    name: str  # name inside the zip, "/" separated
    path: Path  # where it was extracted


def is_junk(name: str) -> bool:
    """OS litter and DICOMDIR index files, silently ignored in zips and folders."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not parts:
        return True
    base = parts[-1]
    return "__MACOSX" in parts[:-1] or base.lower() in _JUNK_NAMES or base.startswith("._")


def _check_name(zip_name: str, name: str) -> None:
    normal = name.replace("\\", "/")
    parts = normal.split("/")
    if normal.startswith("/") or re.match(r"^[A-Za-z]:", normal) or ".." in parts:
        raise ImportRejected(
            f"{zip_name}: member {name!r} has an unsafe path (absolute or containing '..'); "
            "the zip was not extracted. Re-create the zip from the folder itself."
        )


def _describe_limit(n: int) -> str:
    return f"{n / 1024**3:.1f} GiB" if n >= 1024**3 else f"{n / 1024**2:.1f} MiB"


def extract_zip(zip_path: Path, zip_name: str, dest: Path, limits: ImportLimits) -> list[Member]:
    """Check a zip against the limits, then extract its useful members into dest.

    Rejects path traversal, symlinks, encryption, too many members, too large a total size and
    bomb-like compression ratios before writing a single byte; while extracting it also counts
    the bytes actually produced, in case a header lies.
    """
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImportRejected(
            f"{zip_name}: not a readable zip file ({exc}). Re-create the zip and upload again."
        ) from exc
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        if len(infos) > limits.max_members:
            raise ImportRejected(
                f"{zip_name}: has {len(infos)} files; the limit is {limits.max_members}. "
                "Split the upload into several zips."
            )
        total = 0
        for info in infos:
            _check_name(zip_name, info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise ImportRejected(
                    f"{zip_name}: member {info.filename!r} is a symbolic link; links are not "
                    "accepted. Zip the files themselves."
                )
            if info.flag_bits & 0x1:
                raise ImportRejected(
                    f"{zip_name}: member {info.filename!r} is password-protected; upload an "
                    "unencrypted zip."
                )
            total += info.file_size
            if info.file_size >= RATIO_CHECK_MIN_BYTES:
                ratio = info.file_size / max(info.compress_size, 1)
                if ratio > limits.max_compression_ratio:
                    raise ImportRejected(
                        f"{zip_name}: member {info.filename!r} expands {ratio:.0f}-fold "
                        f"(limit {limits.max_compression_ratio:.0f}); this looks like a zip bomb "
                        "and was not extracted."
                    )
        if total > limits.max_uncompressed_bytes:
            raise ImportRejected(
                f"{zip_name}: unpacks to {_describe_limit(total)}; the limit is "
                f"{_describe_limit(limits.max_uncompressed_bytes)}. Split the upload."
            )
        wanted = [i for i in infos if not is_junk(i.filename)]
        members: list[Member] = []
        written = 0
        for index, info in enumerate(wanted):
            target = dest / f"m{index:06d}"
            written += _copy_member(archive, info, target, zip_name, limits, written)
            members.append(Member(info.filename.replace("\\", "/"), target))
        return members


def _copy_member(archive, info, target: Path, zip_name: str, limits, written_before: int) -> int:
    written = 0
    try:
        with archive.open(info) as src, open(target, "wb") as dst:
            while chunk := src.read(1024 * 1024):
                written += len(chunk)
                if written > info.file_size or written_before + written > (
                    limits.max_uncompressed_bytes
                ):
                    raise ImportRejected(
                        f"{zip_name}: member {info.filename!r} is larger than its header says; "
                        "the zip is corrupt or hostile."
                    )
                dst.write(chunk)
    except ImportRejected:
        raise
    except NotImplementedError as exc:
        raise ImportRejected(
            f"{zip_name}: member {info.filename!r} uses an unsupported zip compression method "
            f"({exc}). Re-create the zip with standard (deflate) compression."
        ) from exc
    except MemoryError:
        raise
    except Exception as exc:  # BadZipFile, zlib/bz2/lzma errors, EOFError, OSError, ...
        raise ImportRejected(
            f"{zip_name}: member {info.filename!r} is corrupt or truncated ({exc}). "
            "Re-create the zip and upload again."
        ) from exc
    return written


def copy_stream(fileobj, target: Path, name: str, limit: int) -> int:
    """Spool an uploaded file object to disk, refusing to go past the upload limit."""
    size = 0
    with open(target, "wb") as dst:
        chunks = (
            fileobj.chunks()
            if hasattr(fileobj, "chunks")
            else iter(lambda: fileobj.read(1024 * 1024), b"")
        )
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise ImportRejected(
                    f"{name}: the upload is larger than the limit of {_describe_limit(limit)}."
                )
            dst.write(chunk)
    return size


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
