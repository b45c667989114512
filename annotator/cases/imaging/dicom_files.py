"""Reading single DICOM files: headers, classification, decodability, pixels, display window."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from .volume import ImportRejected

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"

# Objects that carry no image to annotate (reports, structures, segmentations, dose grids,
# presentation states, key objects, waveforms, documents). They are skipped with a note.
NON_IMAGE_MODALITIES = {
    "SR",
    "KO",
    "PR",
    "SEG",
    "RTSTRUCT",
    "RTPLAN",
    "RTDOSE",
    "RTRECORD",
    "RTIMAGE",
    "REG",
    "FID",
    "DOC",
    "RWV",
    "AU",
    "ECG",
    "HD",
    "EPS",
    "PLAN",
    "IVOCT",
    "M3D",
    "OSS",
    "RESP",
}

UNCOMPRESSED_SYNTAXES = {
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian (inflated on read)
    "1.2.840.10008.1.2.2",  # Explicit VR Big Endian
}

# Names for transfer syntaxes newer than the installed pydicom's dictionary.
_EXTRA_SYNTAX_NAMES = {
    "1.2.840.10008.1.2.4.110": "JPEG XL Lossless",
    "1.2.840.10008.1.2.4.111": "JPEG XL JPEG Recompression",
    "1.2.840.10008.1.2.4.112": "JPEG XL",
}

CROSS_SECTIONAL = {"CT", "MR", "PT", "NM"}


@dataclass(frozen=True)
class SourceFile:
    path: Path  # where the bytes are (may be a temp extraction)
    name: str  # what the user calls it: "scans.zip/pat1/IM0001", "case01/IM0001"


@contextlib.contextmanager
def quiet_pydicom():
    """pydicom warns (and logs) about odd values, sometimes quoting them; an import of patient
    data must not copy header values into logs, so both are silenced while reading. The caught
    warnings are yielded for inspection."""
    logger = logging.getLogger("pydicom")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield caught
    finally:
        logger.setLevel(level)


def looks_like_dicom(head: bytes) -> bool:
    """Part-10 files have 'DICM' at 128; raw datasets (no preamble) start with group 0002/0008."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return True
    return len(head) >= 8 and head[:2] in (b"\x02\x00", b"\x08\x00") and head[2:4] < b"\x20\x00"


# Values larger than this (pixel data, big private blobs) are left on disk until needed, so a
# header pass over thousands of files stays small, and decoding later does not parse twice.
DEFER_BYTES = 16 * 1024


def read_header(source: SourceFile) -> Dataset:
    damaged = (
        f"{source.name}: is a damaged DICOM file (truncated or corrupt: it cannot be read to "
        "the end). Re-export it from the PACS or remove it."
    )
    try:
        with quiet_pydicom() as caught:
            ds = pydicom.dcmread(source.path, defer_size=DEFER_BYTES, force=True)
    except (
        InvalidDicomError,
        EOFError,
        OSError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        NotImplementedError,
    ) as exc:
        raise ImportRejected(damaged) from exc
    if any("End of file reached" in str(w.message) for w in caught):
        raise ImportRejected(damaged)
    _ensure_transfer_syntax(ds)
    if not any(k in ds for k in ("SOPClassUID", "Modality", "StudyInstanceUID", "Rows")):
        meta = getattr(ds, "file_meta", None)
        if meta is not None and "MediaStorageSOPClassUID" in meta and not is_directory_record(ds):
            raise ImportRejected(damaged)
        if not is_directory_record(ds):
            raise ImportRejected(
                f"{source.name}: is not a DICOM file (no DICOM attributes found). Remove it "
                "and try again."
            )
    return ds


def _ensure_transfer_syntax(ds: Dataset) -> None:
    """Files without file meta (no preamble) still need a transfer syntax to decode pixels:
    use the encoding pydicom detected while reading."""
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return
    implicit, little = getattr(ds, "original_encoding", (True, True))
    if implicit is None:
        implicit, little = True, True
    uid = (
        "1.2.840.10008.1.2"
        if implicit
        else ("1.2.840.10008.1.2.1" if little else "1.2.840.10008.1.2.2")
    )
    if meta is None:
        ds.file_meta = meta = FileMetaDataset()
    meta.TransferSyntaxUID = UID(uid)


def is_directory_record(ds: Dataset) -> bool:
    meta = getattr(ds, "file_meta", None)
    sop = str(meta.get("MediaStorageSOPClassUID", "")) if meta is not None else ""
    return sop == MEDIA_STORAGE_DIRECTORY or "DirectoryRecordSequence" in ds


def has_pixel_module(ds: Dataset) -> bool:
    return "Rows" in ds and "Columns" in ds


def number_of_frames(ds: Dataset) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames") or 1))
    except (TypeError, ValueError):
        return 1


def modality_code(ds: Dataset) -> str:
    """Our modality: CT, MR, PT, US; every other image modality is OT (other)."""
    raw = str(ds.get("Modality", "") or "").upper()
    return raw if raw in {"CT", "MR", "PT", "US"} else "OT"


def transfer_syntax(ds: Dataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    return UID(str(uid)) if uid else UID("1.2.840.10008.1.2")


def syntax_name(uid: UID) -> str:
    name = uid.name
    if name and name != str(uid):
        return name
    return _EXTRA_SYNTAX_NAMES.get(str(uid), "an unknown or private transfer syntax")


def check_decodable(ds: Dataset, name: str) -> None:
    """Reject, before any pixel work, files whose pixel data we cannot decode."""
    uid = transfer_syntax(ds)
    if str(uid) in UNCOMPRESSED_SYNTAXES:
        return
    from pydicom.pixels import get_decoder

    advice = (
        "Export the images uncompressed (Explicit VR Little Endian) or as JPEG, JPEG-LS, "
        "JPEG 2000 or RLE, and upload again."
    )
    try:
        decoder = get_decoder(uid)
    except (NotImplementedError, ValueError) as exc:
        raise ImportRejected(
            f"{name}: the pixel data is encoded as {syntax_name(uid)} ({uid}), which this "
            f"server cannot decode. {advice}"
        ) from exc
    if not decoder.is_available:
        raise ImportRejected(
            f"{name}: the pixel data is encoded as {syntax_name(uid)} ({uid}) and no decoder "
            f"plugin for it is installed on this server. {advice}"
        )


def read_pixels(source: SourceFile, ds: Dataset) -> np.ndarray:
    """Stored pixel values of a header read by read_header (colour comes back as RGB); the
    dataset's copy of the pixel data is released afterwards. Every failure is an
    ImportRejected naming the file."""
    if "PixelData" not in ds:
        raise ImportRejected(
            f"{source.name}: the image has no pixel data (the file is truncated or stripped). "
            "Re-export it or remove it."
        )
    with _decoding(source, ds):
        return ds.pixel_array


def iter_frames(source: SourceFile, ds: Dataset) -> Iterator[np.ndarray]:
    """Decode a multi-frame object frame by frame (colour comes back as RGB); failures become
    ImportRejected naming the file."""
    from pydicom.pixels import get_decoder

    if "PixelData" not in ds:
        raise ImportRejected(
            f"{source.name}: the object has no pixel data (the file is truncated or stripped)."
        )
    with _decoding(source, ds):
        decoder = get_decoder(transfer_syntax(ds))
        for frame, _ in decoder.iter_array(ds):
            yield frame


@contextlib.contextmanager
def _decoding(source: SourceFile, ds: Dataset) -> Iterator[None]:
    """Pixel decoding, quietly: decoders raise anything from ValueError to RuntimeError, and
    each becomes an ImportRejected naming the file. The dataset's copy of the pixel data is
    released afterwards, decoded or not."""
    try:
        with quiet_pydicom():
            yield
    except (ImportRejected, MemoryError):
        raise
    except Exception as exc:
        raise ImportRejected(
            f"{source.name}: the pixel data could not be decoded "
            f"({syntax_name(transfer_syntax(ds))}): it is corrupt or truncated "
            f"({type(exc).__name__}: {_short(exc)}). Re-export the file and upload again."
        ) from exc
    finally:
        with contextlib.suppress(KeyError, AttributeError):
            del ds.PixelData


def _short(exc: Exception) -> str:
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return text[:200]


def first_float(value, default: float | None = None) -> float | None:
    """First number of a possibly multi-valued DS, or default."""
    if value is None or value == "":
        return default
    try:
        if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
            value = value[0]
        number = float(value)
    except (TypeError, ValueError, IndexError):
        return default
    return number if np.isfinite(number) else default


def window_of(item: Dataset) -> tuple[float, float] | None:
    center = first_float(item.get("WindowCenter"))
    width = first_float(item.get("WindowWidth"))
    if center is None or width is None or width <= 0:
        return None
    return (center, width)


def floats(value, count: int) -> np.ndarray | None:
    """A multi-valued numeric attribute as float64[count], or None when absent/malformed."""
    if value is None:
        return None
    try:
        array = np.asarray([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if array.shape != (count,) or not np.all(np.isfinite(array)):
        return None
    return array
