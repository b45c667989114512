"""Hostile inputs for the tests and benches: files that lie about their size.

`header_bomb_nifti` writes a NIfTI of a few hundred bytes whose header declares a large volume
(by default 1024³ int16, 2 GiB of voxels); a reader that trusts the header allocates the
declared size before finding out the data is not there. `peak_allocated` measures what a call
allocates (numpy and Python objects both report to tracemalloc).
"""

from __future__ import annotations

import gzip
import io
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np


def header_bomb_nifti(
    path: Path | None = None,
    *,
    shape: tuple[int, ...] = (1024, 1024, 1024),
    dtype=np.int16,
    compressed: bool | None = None,
    affine: np.ndarray | None = None,
    payload: bytes = b"",
) -> bytes:
    """A NIfTI-1 header declaring `shape` voxels of `dtype`, followed by `payload` only (no
    voxel data by default). gzip-compressed when `compressed` (default: when `path` ends in
    .gz). Written to `path` when given; the bytes are returned either way."""
    header = nib.Nifti1Header()
    header.set_data_dtype(dtype)
    header.set_data_shape(shape)
    header.set_sform(np.eye(4) if affine is None else affine, code=1)
    header.set_qform(np.eye(4) if affine is None else affine, code=1)
    header["vox_offset"] = 352
    buf = io.BytesIO()
    header.write_to(buf)
    buf.write(b"\0" * 4)  # no extensions
    buf.write(payload)
    data = buf.getvalue()
    if compressed is None:
        compressed = path is not None and str(path).endswith(".gz")
    if compressed:
        data = gzip.compress(data, compresslevel=9, mtime=0)
    if path is not None:
        Path(path).write_bytes(data)
    return data


def peak_allocated(call: Callable[[], object]) -> tuple[int, object | BaseException]:
    """(peak bytes allocated while running `call`, its result or the exception it raised)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        try:
            outcome: object | BaseException = call()
        except BaseException as exc:  # noqa: BLE001 - the caller inspects it
            outcome = exc
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, outcome
