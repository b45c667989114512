"""NIfTI in (user uploads) and out (the canonical stored image).

Canonical file: gzip NIfTI-1, voxel order x fastest (the (z, y, x) C-order array written as is),
sform = qform = the RAS affine of the LPS geometry (code 1, scanner), cal_min/cal_max = the
default window, `descrip` = "medsam2 kind=... mod=... [fps=...]" and nothing else: no names, no
extensions, no DICOM header, gzip header without file name or time stamp.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import struct
import uuid
import zlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nibabel as nib
import numpy as np

from . import geometry
from .volume import KINDS, MODALITIES, ImageVolume, ImportLimits, ImportRejected

GZIP_LEVEL = 1  # valid for both backends below

try:  # ISA-L deflate (package "isal"): ~3x faster than zlib level 1 at the same ratio; optional
    from isal import isal_zlib as _deflate
except ImportError:  # pragma: no cover - depends on the environment
    _deflate = zlib
_CHUNK = 4 * 1024 * 1024
_TIME_UNITS_S = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6}


# ----------------------------------------------------------------------------- user uploads


def sniff_nifti(head: bytes) -> str | None:
    """'nifti1' / 'nifti2' / 'analyze-pair' for an uncompressed header start, else None."""
    if len(head) >= 348:
        for order in ("<", ">"):
            size = struct.unpack(order + "i", head[:4])[0]
            if size == 348 and head[344:348] in (b"n+1\0", b"ni1\0"):
                return "nifti1" if head[344:347] == b"n+1" else "analyze-pair"
            if size == 540 and head[4:8] in (b"n+2\0", b"ni2\0"):
                return "nifti2" if head[4:7] == b"n+2" else "analyze-pair"
    return None


def gzip_head(path: Path, name: str, size: int = 544) -> bytes:
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read(size)
    except (OSError, EOFError, zlib.error) as exc:
        raise ImportRejected(
            f"{name}: the gzip data is corrupt or truncated ({exc}). Upload the file again."
        ) from exc


def load_nifti(path: Path, name: str, compressed: bool, limits: ImportLimits, notes: list[str]):
    """An uploaded .nii / .nii.gz → ImageVolume (LPS, (z, y, x)); 3-D, or 4-D as described in
    the package docstring."""
    head = gzip_head(path, name) if compressed else _read_head(path)
    flavour = sniff_nifti(head)
    if flavour == "analyze-pair":
        raise ImportRejected(
            f"{name}: is the header of a .hdr/.img pair; upload a single-file .nii or .nii.gz."
        )
    if flavour is None:
        raise ImportRejected(
            f"{name}: is not a NIfTI file (no NIfTI-1/NIfTI-2 header found). Upload .nii, "
            ".nii.gz, DICOM or a zip of DICOM."
        )
    header_class = nib.Nifti1Header if flavour == "nifti1" else nib.Nifti2Header
    opener = gzip.open if compressed else open
    try:
        # The bare header: its extensions are dropped anyway, and reading them would trust
        # their declared sizes.
        header = header_class.from_fileobj(io.BytesIO(head[: header_class.sizeof_hdr]))
        with opener(path, "rb") as fh:
            shape = tuple(int(s) for s in header.get_data_shape())
            _check_shape(shape, name, limits)
            dtype = header.get_data_dtype()
            offset = int(header.get_data_offset())
            declared = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            _check_declared_size(path, name, compressed, offset, declared, limits)
            # Not nibabel's array_from_file: it allocates (and zeroes) the declared size
            # before reading, so a header of a few bytes could claim gigabytes.
            if offset < header_class.sizeof_hdr:
                raise ImportRejected(
                    f"{name}: the header's voxel offset ({offset}) points inside the header; "
                    "the file is corrupt."
                )
            _skip(fh, offset, name)
            data = _read_exactly(fh, declared, name)
            raw = np.ndarray(shape, dtype=dtype, buffer=data, order="F")
            slope, inter = header.get_slope_inter()
            if compressed:
                _read_to_end(fh)  # the gzip CRC is only checked at the end of the stream
    except ImportRejected:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # nibabel/gzip raise many kinds for broken files
        raise ImportRejected(
            f"{name}: the NIfTI file is corrupt or truncated ({type(exc).__name__}: "
            f"{str(exc)[:160]}). Upload it again."
        ) from exc
    if raw.dtype.fields is not None or raw.dtype.kind == "c":
        raise ImportRejected(
            f"{name}: colour or complex NIfTI data ({raw.dtype}) is not supported; upload a "
            "greyscale image."
        )
    kind, frame_rate = "volume", None
    if raw.ndim == 4:
        if shape[3] == 1:
            raw = raw[..., 0]
        else:  # (x, y, 1, t): a 2-D clip
            raw = raw[:, :, 0, :]
            kind = "video"
            frame_rate = _frame_rate(header)
    elif raw.ndim == 2:
        raw = raw[:, :, None]
    affine = _best_affine(header, name)
    spacing, origin, direction = geometry.split_affine(affine, name)
    array = raw.T  # (x, y, z) Fortran → (z, y, x) C order, no copy
    if raw.dtype.kind == "f" and not np.all(np.isfinite(array)):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        array = np.nan_to_num(array, nan=0.0, posinf=0.0, neginf=0.0)
        notes.append(f"{name}: {bad} NaN/infinite voxels set to 0")
    array = _canonical_values(array, slope, inter)
    if kind == "video":
        spacing, origin = (spacing[0], spacing[1], 1.0), (0.0, 0.0, 0.0)
        direction = tuple(float(v) for v in np.eye(3).reshape(-1))
        notes.append(f"{name}: 4-D NIfTI with one slice per time point imported as a clip")
    modality = guess_modality(array)
    window = geometry.computed_window(array, modality)
    fingerprint = geometry.content_fingerprint(array, spacing, origin, direction)
    return ImageVolume(
        array=array,
        spacing=spacing,
        origin=origin,
        direction=direction,
        modality=modality,
        kind=kind,
        frame_rate=frame_rate,
        window=window,
        source_format="nifti",
        fingerprint=fingerprint,
        source_name=name,
        description=geometry.describe(modality, kind, array.shape, spacing, frame_rate),
        dicom=None,
        metadata={},
    )


def _read_to_end(fh, limit: int = 64 * 1024 * 1024) -> None:
    """Consume what follows the voxel data so gzip verifies its CRC and length; corrupt
    deflate data that happens to decode would otherwise pass unnoticed."""
    while limit > 0 and (chunk := fh.read(min(limit, 1024 * 1024))):
        limit -= len(chunk)


# Deflate cannot expand data more than about 1032:1, so a .nii.gz of n bytes holds at most
# this many times n bytes of voxels: a bigger declared size is a lie, refused before reading.
_DEFLATE_MAX_RATIO = 1032


def _check_declared_size(
    path: Path, name: str, compressed: bool, offset: int, declared: int, limits: ImportLimits
) -> None:
    """Refuse a header whose voxel data cannot be in the file (or is over the limit on
    uncompressed bytes) before any of it is read or allocated."""
    if declared > limits.max_uncompressed_bytes:
        raise ImportRejected(
            f"{name}: the header declares {declared} bytes of voxel data, more than the limit "
            f"of {limits.max_uncompressed_bytes} bytes."
        )
    size = path.stat().st_size
    if compressed and offset + declared > size * _DEFLATE_MAX_RATIO:
        raise ImportRejected(
            f"{name}: the NIfTI file is corrupt or truncated: its header declares {declared} "
            f"bytes of voxel data, more than {size} bytes of gzip data can hold. Upload it again."
        )
    if not compressed and offset + declared > size:
        raise ImportRejected(
            f"{name}: the NIfTI file is corrupt or truncated: its header declares {declared} "
            f"bytes of voxel data from byte {offset} on, but the file has {size} bytes. "
            "Upload it again."
        )


def _skip(fh, count: int, name: str) -> None:
    """Skip the header and its extensions up to the voxel data (bounded by the size checks)."""
    while count > 0:
        chunk = fh.read(min(count, _CHUNK))
        if not chunk:
            raise ImportRejected(f"{name}: the NIfTI file is corrupt or truncated.")
        count -= len(chunk)


def _read_exactly(fh, count: int, name: str) -> bytearray:
    """Read `count` bytes, growing the buffer only as data actually arrives (a truncated or
    lying file costs what it holds, not what its header claims)."""
    data = bytearray()
    while len(data) < count:
        chunk = fh.read(min(count - len(data), _CHUNK))
        if not chunk:
            raise ImportRejected(
                f"{name}: the NIfTI file is corrupt or truncated: its header declares {count} "
                f"bytes of voxel data but the file ends after {len(data)}. Upload it again."
            )
        data += chunk
    return data


def _read_head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(544)


def _check_shape(shape: tuple[int, ...], name: str, limits: ImportLimits) -> None:
    if len(shape) > 4 or (len(shape) == 4 and shape[3] > 1 and shape[2] != 1):
        dims = "x".join(str(s) for s in shape)
        raise ImportRejected(
            f"{name}: is a {len(shape)}-D image ({dims}); only 3-D volumes (or 2-D clips stored "
            "as x*y*1*t) can be imported. Split it into one 3-D file per time point/channel."
        )
    if len(shape) < 2 or min(shape) < 1:
        raise ImportRejected(f"{name}: has an empty or invalid shape {shape}.")
    if int(np.prod(shape, dtype=np.int64)) > limits.max_voxels:
        raise ImportRejected(
            f"{name}: {'x'.join(str(s) for s in shape)} voxels is more than the limit of "
            f"{limits.max_voxels}."
        )


def _best_affine(header, name: str) -> np.ndarray:
    """sform when set and orthogonal, else qform, else pixdim only (what ITK does)."""
    sform, s_code = header.get_sform(coded=True)
    qform, q_code = header.get_qform(coded=True)
    candidates = []
    if s_code and sform is not None:
        candidates.append(sform)
    if q_code and qform is not None:
        candidates.append(qform)
    for affine in candidates:
        matrix = affine[:3, :3]
        norms = np.linalg.norm(matrix, axis=0)
        if np.all(norms > 0) and geometry.is_orthonormal(matrix / norms):
            return affine
    if candidates:
        return candidates[0]  # split_affine explains why it is unusable
    return header.get_base_affine()


def _frame_rate(header) -> float | None:
    zooms = header.get_zooms()
    if len(zooms) < 4 or zooms[3] <= 0:
        return None
    _, time_unit = header.get_xyzt_units()
    seconds = zooms[3] * _TIME_UNITS_S.get(time_unit, 1.0)
    return 1.0 / seconds if seconds > 0 else None


def _canonical_values(array: np.ndarray, slope, inter) -> np.ndarray:
    slope = 1.0 if slope is None or not np.isfinite(slope) or slope == 0 else float(slope)
    inter = 0.0 if inter is None or not np.isfinite(inter) else float(inter)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    if array.dtype.kind == "f" and slope == 1.0 and inter == 0.0:
        lo, hi = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
        if lo >= geometry.INT16_MIN and hi <= geometry.INT16_MAX and _all_integral(array):
            return array.astype(np.int16)
        return array.astype(np.float32, copy=False)
    # One slope/intercept for the whole image: rescale_stack per slice is the same maths.
    return geometry.rescale_stack(array, slope, inter)


def _all_integral(array: np.ndarray) -> bool:
    step = max(1, array.shape[0] // 64)
    if not np.array_equal(array[::step], np.rint(array[::step])):
        return False
    return bool(np.array_equal(array, np.rint(array)))


def guess_modality(array: np.ndarray) -> str:
    """NIfTI has no modality: CT if air is present in Hounsfield units, else OT (the caller
    may overwrite ImageVolume.modality when it knows better)."""
    if array.dtype.kind in "iuf" and array.size:
        step = max(1, array.size // 2_000_000)
        sample = array.reshape(-1)[::step]
        if float(sample.min()) <= -900 and float(np.percentile(sample, 99)) < 4000:
            return "CT"
    return "OT"


# ----------------------------------------------------------------------------- canonical file


def write_canonical_nifti(volume: ImageVolume, path: Path) -> None:
    """Write gzip NIfTI-1 atomically: temp file in the same folder, fsync, rename."""
    path = Path(path)
    array = volume.array
    if array.ndim != 3:
        raise ValueError(f"expected a (z, y, x) array, got shape {array.shape}")
    if array.dtype not in (np.int16, np.float32, np.uint8):
        raise ValueError(f"canonical dtype must be int16, float32 or uint8, not {array.dtype}")
    data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    header = canonical_header(volume)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as fh:
            _write_gzip(fh, [header.binaryblock, b"\0" * 4, memoryview(data).cast("B")])
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def canonical_header(volume: ImageVolume) -> nib.Nifti1Header:
    nz, ny, nx = volume.array.shape
    header = nib.Nifti1Header()
    header.set_data_dtype(volume.array.dtype)
    header.set_data_shape((nx, ny, nz))
    affine = geometry.ras_affine(volume.spacing, volume.origin, volume.direction)
    header.set_sform(affine, code=1)
    header.set_qform(affine, code=1)
    header.set_zooms(tuple(float(s) for s in volume.spacing))
    header.set_xyzt_units("mm", "sec")
    header["vox_offset"] = 352
    header["scl_slope"] = 1.0
    header["scl_inter"] = 0.0
    if volume.window is not None:
        center, width = volume.window
        header["cal_min"] = center - width / 2.0
        header["cal_max"] = center + width / 2.0
    descrip = f"medsam2 kind={volume.kind} mod={volume.modality}"
    if volume.frame_rate:
        descrip += f" fps={volume.frame_rate:.6g}"
    header["descrip"] = descrip.encode("ascii")
    return header


def read_canonical_nifti(path: Path) -> ImageVolume:
    """Read a file written by write_canonical_nifti back into an ImageVolume (array, geometry,
    kind, modality, frame rate, window). Source-only fields (fingerprint, DICOM UIDs,
    metadata) are not in the file and come back empty."""
    path = Path(path)
    image = nib.load(str(path), mmap=False)
    header = image.header
    data = np.asanyarray(image.dataobj.get_unscaled())
    if data.ndim != 3:
        raise ValueError(f"{path.name}: expected a 3-D canonical image, got {data.shape}")
    array = np.ascontiguousarray(data.T)
    affine, _ = header.get_sform(coded=True)
    spacing, origin, direction = geometry.split_affine(affine, path.name)
    fields = dict(re.findall(r"(\w+)=(\S+)", header["descrip"].item().decode("ascii", "replace")))
    kind = fields.get("kind", "volume")
    modality = fields.get("mod", "OT")
    fps = float(fields["fps"]) if "fps" in fields else None
    cal_min, cal_max = float(header["cal_min"]), float(header["cal_max"])
    window = ((cal_min + cal_max) / 2.0, cal_max - cal_min) if cal_max > cal_min else None
    return ImageVolume(
        array=array,
        spacing=spacing,
        origin=origin,
        direction=direction,
        modality=modality if modality in MODALITIES else "OT",
        kind=kind if kind in KINDS else "volume",
        frame_rate=fps,
        window=window,
        source_format="nifti",
        fingerprint="",
        source_name=path.name,
        description=geometry.describe(modality, kind, array.shape, spacing, fps),
    )


def _write_gzip(fh, parts: list) -> None:
    """One gzip member, compressed in parallel chunks (pigz style: each chunk is a raw deflate
    stream ended by a sync flush, so the concatenation is one valid deflate stream)."""
    chunks = []
    for part in parts:
        view = memoryview(part).cast("B") if not isinstance(part, bytes) else memoryview(part)
        chunks.extend(view[i : i + _CHUNK] for i in range(0, len(view), _CHUNK))
    last = len(chunks) - 1

    def deflate(item):
        index, chunk = item
        compressor = _deflate.compressobj(GZIP_LEVEL, _deflate.DEFLATED, -15)
        body = compressor.compress(chunk)
        return body + compressor.flush(
            _deflate.Z_FINISH if index == last else _deflate.Z_SYNC_FLUSH
        )

    # Header: magic, deflate, no flags, mtime 0, no extra flags, OS unknown (no file name).
    fh.write(b"\x1f\x8b\x08\x00" + b"\0\0\0\0" + b"\x00\xff")
    crc, size = 0, 0
    workers = max(1, min(4, os.cpu_count() or 1))
    pending: deque = deque()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for item in enumerate(chunks):
            pending.append((item[1], pool.submit(deflate, item)))
            if len(pending) > 2 * workers:  # bound the compressed data held in memory
                crc, size = _drain(fh, pending.popleft(), crc, size)
        while pending:
            crc, size = _drain(fh, pending.popleft(), crc, size)
    fh.write(struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF))


def _drain(fh, entry, crc: int, size: int) -> tuple[int, int]:
    chunk, future = entry
    fh.write(future.result())
    return zlib.crc32(chunk, crc), size + len(chunk)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
