"""Geometry and intensity helpers shared by the DICOM and NIfTI readers."""

from __future__ import annotations

import hashlib

import numpy as np

from .volume import ImportRejected

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])

# Default CT display window when the file has none (abdomen soft tissue, W400/L40).
CT_DEFAULT_WINDOW = (40.0, 400.0)
INT16_MIN, INT16_MAX = -32768, 32767


def ras_affine(spacing, origin, direction) -> np.ndarray:
    """NIfTI (RAS) affine of an LPS grid: voxel index (x, y, z) → RAS mm."""
    lps = np.eye(4)
    lps[:3, :3] = np.asarray(direction, dtype=np.float64).reshape(3, 3) * np.asarray(spacing)
    lps[:3, 3] = origin
    return LPS_TO_RAS @ lps


def split_affine(affine_ras: np.ndarray, what: str) -> tuple[tuple, tuple, tuple]:
    """(spacing, origin, direction) in LPS from a RAS affine; rejects degenerate or sheared ones."""
    lps = LPS_TO_RAS @ np.asarray(affine_ras, dtype=np.float64)
    matrix = lps[:3, :3]
    if not np.all(np.isfinite(lps)):
        raise ImportRejected(f"{what}: the image orientation matrix contains NaN or infinity.")
    spacing = np.linalg.norm(matrix, axis=0)
    if np.any(spacing <= 1e-6):
        raise ImportRejected(
            f"{what}: a voxel size is zero (spacing {np.round(spacing, 4).tolist()} mm); "
            "fix the header (pixdim / affine) and upload again."
        )
    direction = matrix / spacing
    if not is_orthonormal(direction):
        raise ImportRejected(
            f"{what}: the image axes are not perpendicular (sheared affine). Resample the image to "
            "an orthogonal grid (e.g. with dcm2niix or SimpleITK) and upload again."
        )
    return (
        tuple(float(s) for s in spacing),
        tuple(float(o) for o in lps[:3, 3]),
        tuple(float(d) for d in direction.reshape(-1)),
    )


def is_orthonormal(direction: np.ndarray, tol: float = 1e-3) -> bool:
    d = np.asarray(direction, dtype=np.float64).reshape(3, 3)
    return bool(np.allclose(d.T @ d, np.eye(3), atol=tol))


def rescale_stack(raw: np.ndarray, slopes=1.0, intercepts=0.0) -> np.ndarray:
    """Apply a linear rescale per slice (first axis) → int16 when every result is integral and
    fits (CT HU, most MR), else float32 (PET, fractional slopes)."""
    n = raw.shape[0] if raw.ndim else 1
    slopes = np.broadcast_to(np.asarray(slopes, dtype=np.float64), (n,))
    intercepts = np.broadcast_to(np.asarray(intercepts, dtype=np.float64), (n,))
    integral = np.all(np.mod(slopes, 1) == 0) and np.all(np.mod(intercepts, 1) == 0)
    if integral and raw.dtype.kind in "iub" and raw.size:
        lows = raw.min(axis=tuple(range(1, raw.ndim))).astype(np.int64)
        highs = raw.max(axis=tuple(range(1, raw.ndim))).astype(np.int64)
        ends = np.stack([lows * slopes.astype(np.int64), highs * slopes.astype(np.int64)])
        ends += intercepts.astype(np.int64)
        if ends.min() >= INT16_MIN and ends.max() <= INT16_MAX:
            if raw.dtype == np.int16 and np.all(slopes == 1) and np.all(intercepts == 0):
                return raw
            out = np.empty(raw.shape, np.int16)
            # Slice by slice: cache-friendly, several times faster than whole-array casts.
            for i in range(n):
                slope, intercept = int(slopes[i]), int(intercepts[i])
                if slope == 1 and lows[i] >= INT16_MIN and highs[i] <= INT16_MAX:
                    np.copyto(out[i], raw[i], casting="unsafe")  # exact: the values fit
                    if intercept:
                        out[i] += np.int16(intercept)  # exact: the result range was checked
                else:
                    wide = raw[i].astype(np.int32) * slope + intercept
                    np.copyto(out[i], wide, casting="unsafe")
            return out
    out = np.empty(raw.shape, np.float32)
    for i in range(n):
        np.copyto(out[i], raw[i], casting="unsafe")
        if slopes[i] != 1:
            out[i] *= np.float32(slopes[i])
        if intercepts[i] != 0:
            out[i] += np.float32(intercepts[i])
    return out


def computed_window(array: np.ndarray, modality: str) -> tuple[float, float]:
    """A display window for images that carry none: CT soft tissue; others the 0.5–99.5
    percentile of non-zero voxels (sampled, so it stays cheap on big volumes)."""
    if modality == "CT":
        return CT_DEFAULT_WINDOW
    flat = array.reshape(-1)
    step = max(1, flat.size // 2_000_000)
    sample = flat[::step]
    sample = sample[sample != 0]
    if sample.size == 0:
        return (0.5, 1.0)
    lo, hi = np.percentile(sample.astype(np.float64), [0.5, 99.5])
    width = max(float(hi - lo), 1.0)
    return (float(lo + hi) / 2.0, width)


def format_mm(value: float) -> str:
    return f"{value:.3g}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def describe(modality: str, kind: str, shape: tuple[int, ...], spacing, frame_rate=None) -> str:
    """Safe one-line technical description, e.g. "CT, 200 slices, 512x512, 0.7x0.7x1.25 mm"."""
    nz, ny, nx = shape
    if kind == "video":
        rate = f", {frame_rate:.3g} fps" if frame_rate else ""
        text = f"{modality} cine, {_count(nz, 'frame')}, {nx}x{ny}{rate}"
    else:
        sx, sy, sz = (format_mm(s) for s in spacing)
        text = f"{modality}, {_count(nz, 'slice')}, {nx}x{ny}, {sx}x{sy}x{sz} mm"
    return text


def content_fingerprint(array: np.ndarray, spacing, origin, direction) -> str:
    digest = hashlib.sha256()
    text = repr(
        (
            array.shape,
            str(array.dtype),
            [round(float(v), 4) for v in (*spacing, *origin)],
            [round(float(v), 5) for v in direction],
        )
    )
    digest.update(text.encode())
    digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()
