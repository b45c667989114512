"""Mask bytes in and out: decode and validate uploads, encode stored masks.

A mask is a uint8 array (z, y, x) of 0/1 in the grid of its case's image. It is stored as gzip
NIfTI-1 carrying the image's own header geometry, so any NIfTI tool overlays it on the image.
Uploads may be NIfTI (.nii or .nii.gz) or raw bytes (uint8, x fastest then y then z, i.e. C order
of (z, y, x), optionally gzip-compressed) with the shape given separately. Non-zero means inside.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from dataclasses import dataclass
from functools import lru_cache

import nibabel as nib
import numpy as np

try:  # ISA-L gzip: ~10x faster than zlib at level 1 on mask data (package "isal"); optional
    from isal.igzip import compress as _gzip_compress
except ImportError:  # pragma: no cover - isal is in requirements.txt
    from gzip import compress as _gzip_compress

from annotator.core.errors import InvalidInput, PayloadTooLarge

GZIP_MAGIC = b"\x1f\x8b"
NIFTI1_HEADER_SIZE = 348
AFFINE_TOLERANCE_MM = 1e-3


@dataclass(frozen=True)
class DecodedMask:
    array: np.ndarray  # uint8 (z, y, x), values 0/1
    checksum: str
    voxel_count: int


def _gunzip(data: bytes, limit: int) -> bytes:
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise InvalidInput(f"the mask is not valid gzip data: {exc}") from exc
    if len(out) > limit:
        raise PayloadTooLarge("the mask is larger than the image it belongs to")
    if not inflater.eof:
        raise InvalidInput("the gzip mask data is truncated")
    return out


def summarize(mask_zyx: np.ndarray) -> DecodedMask:
    """Normalise to contiguous uint8 0/1 and compute checksum and voxel count."""
    binary = np.ascontiguousarray(mask_zyx != 0, dtype=np.uint8)
    return DecodedMask(
        array=binary,
        checksum=hashlib.sha256(binary.data).hexdigest(),
        voxel_count=int(np.count_nonzero(binary)),
    )


def decode_upload(
    data: bytes,
    *,
    image_shape_xyz: tuple[int, int, int],
    image_affine: np.ndarray,
    raw_shape_xyz: tuple[int, int, int] | None = None,
    max_bytes: int,
) -> DecodedMask:
    """Decode an uploaded mask and check it fits the image; raise InvalidInput otherwise."""
    try:
        return _decode_upload(data, image_shape_xyz, image_affine, raw_shape_xyz, max_bytes)
    except MemoryError:
        raise PayloadTooLarge(
            "decoding the mask needs more memory than this server can give"
        ) from None


def _decode_upload(data, image_shape_xyz, image_affine, raw_shape_xyz, max_bytes) -> DecodedMask:
    if not data:
        raise InvalidInput("the mask upload is empty")
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"the mask upload exceeds {max_bytes} bytes")
    nx, ny, nz = image_shape_xyz
    expected = nx * ny * nz
    # A NIfTI carries a header; allow for it (and for a generous header extension).
    payload = _gunzip(data, expected * 8 + 65536)
    if _looks_like_nifti(payload):
        return _decode_nifti(payload, image_shape_xyz, image_affine)
    if raw_shape_xyz is None:
        raise InvalidInput(
            "the mask is neither NIfTI nor raw bytes with a shape; send a .nii/.nii.gz file "
            "or raw uint8 voxels with shape=x,y,z"
        )
    if tuple(raw_shape_xyz) != tuple(image_shape_xyz):
        raise InvalidInput(
            f"mask shape {list(raw_shape_xyz)} does not match the image shape "
            f"{list(image_shape_xyz)}"
        )
    if len(payload) != expected:
        raise InvalidInput(
            f"raw mask has {len(payload)} bytes; the image has {expected} voxels (one byte each)"
        )
    array = np.frombuffer(payload, dtype=np.uint8).reshape(nz, ny, nx)
    return summarize(array)


def _looks_like_nifti(payload: bytes) -> bool:
    if len(payload) < NIFTI1_HEADER_SIZE:
        return False
    size_le = int.from_bytes(payload[:4], "little")
    size_be = int.from_bytes(payload[:4], "big")
    return NIFTI1_HEADER_SIZE in (size_le, size_be) and payload[344:347] in (b"n+1", b"ni1")


def _decode_nifti(payload: bytes, image_shape_xyz, image_affine) -> DecodedMask:
    """Check the header (shape, geometry, data size) against the image before reading any voxel:
    a header of a few bytes may declare a huge volume, and nibabel would allocate it first."""
    try:
        header = nib.Nifti1Header.from_fileobj(io.BytesIO(payload[:NIFTI1_HEADER_SIZE]))
        shape = tuple(int(s) for s in header.get_data_shape())
        dtype = header.get_data_dtype()
        affine = header.get_best_affine()
        offset = int(header.get_data_offset())
        slope, inter = header.get_slope_inter()
    except Exception as exc:  # nibabel raises many types for broken headers
        raise InvalidInput(f"the NIfTI mask cannot be read: {exc}") from exc
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if shape != tuple(image_shape_xyz):
        raise InvalidInput(
            f"mask shape {list(shape)} does not match the image shape {list(image_shape_xyz)}"
        )
    if not np.allclose(affine, image_affine, atol=AFFINE_TOLERANCE_MM):
        raise InvalidInput(
            "the mask's geometry (NIfTI affine) does not match the image; save the mask in the "
            "image's own grid"
        )
    if dtype.fields is not None or dtype.kind not in "biuf":
        raise InvalidInput(f"the mask's data type ({dtype}) is not supported; send uint8 0/1")
    declared = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if offset < NIFTI1_HEADER_SIZE or offset + declared > len(payload):
        raise InvalidInput(
            f"the NIfTI mask is truncated: its header declares {declared} bytes of voxels from "
            f"byte {offset} on, and the upload holds {len(payload)} bytes"
        )
    data = np.ndarray(shape, dtype=dtype, buffer=payload, offset=offset, order="F")
    if slope is not None and (slope != 1 or (inter or 0) != 0):
        data = data * slope + (inter or 0)
    return summarize(data.transpose(2, 1, 0))


@lru_cache(maxsize=256)
def _header_for(header_bytes: bytes) -> nib.Nifti1Header:
    header = nib.Nifti1Header.from_fileobj(io.BytesIO(header_bytes))
    header.set_data_dtype(np.uint8)
    header.set_slope_inter(1.0, 0.0)
    header["cal_min"], header["cal_max"] = 0, 1
    header["descrip"] = b"mask"
    header["aux_file"] = b""
    return header


def encode_nifti(mask_zyx: np.ndarray, *, image_header_bytes: bytes) -> bytes:
    """gzip NIfTI-1 of a (z, y, x) uint8 mask with the image's header geometry."""
    header = _header_for(image_header_bytes).copy()
    nz, ny, nx = mask_zyx.shape
    header.set_data_shape((nx, ny, nz))
    buf = io.BytesIO()
    header.write_to(buf)
    buf.write(b"\x00" * (int(header["vox_offset"]) - buf.tell()))
    buf.write(np.ascontiguousarray(mask_zyx, dtype=np.uint8).data)
    return _gzip_compress(buf.getvalue(), compresslevel=1, mtime=0)


def decode_stored(data: bytes) -> np.ndarray:
    """Read a stored mask back as (z, y, x) uint8."""
    img = nib.Nifti1Image.from_bytes(gzip.decompress(data) if data[:2] == GZIP_MAGIC else data)
    return np.asarray(img.dataobj, dtype=np.uint8).transpose(2, 1, 0).copy()
