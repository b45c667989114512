"""What a mask measures: its volume in mL and, on one slice, its RECIST-style axes.

Pure functions of numpy arrays and voxel spacing (mm), no Django. The viewer computes the same
figures with the same rules (frontend/src/measure.js) while the mask is being edited; the server
stores them with each revision (``MaskRevision.measures``) for the API and the exports.

Rules (one convention, both sides):
- volume: voxels set × voxel volume (sx·sy·sz mm³) / 1000;
- long axis: the longest distance between the centres of two voxels of the slice's mask (always
  between two corners of their convex hull), in mm;
- short axis: the longest chord perpendicular to the long axis across that hull (for the roughly
  convex lesions RECIST measures, the lesion's longest perpendicular diameter).
Voxel centres give a single voxel 0 mm; a lesion measured edge to edge reads about one voxel
more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Axes:
    long_mm: float
    short_mm: float
    long_ends: tuple[tuple[float, float], tuple[float, float]]  # (x, y) voxel coordinates
    short_ends: tuple[tuple[float, float], tuple[float, float]]


def volume_ml(voxel_count: int, spacing_xyz) -> float:
    sx, sy, sz = (float(s) for s in spacing_xyz[:3])
    return voxel_count * sx * sy * sz / 1000.0


def _hull(points: np.ndarray) -> np.ndarray:
    """Convex hull (Andrew's monotone chain) of (n, 2) points; collinear points dropped."""
    pts = np.unique(points, axis=0)  # sorted by x, then y
    if len(pts) <= 2:
        return pts

    def half(seq):
        out: list = []
        for p in seq:
            while len(out) >= 2:
                (ax, ay), (bx, by) = out[-2], out[-1]
                if (bx - ax) * (p[1] - ay) - (by - ay) * (p[0] - ax) > 0:
                    break
                out.pop()
            out.append(p)
        return out

    lower, upper = half(pts), half(pts[::-1])
    return np.array(lower[:-1] + upper[:-1])


def recist(mask_yx: np.ndarray, spacing_xy) -> Axes | None:
    """Long and short axis of a 2D mask (y, x) with in-plane spacing (sx, sy) mm; None if empty."""
    ys, xs = np.nonzero(mask_yx)
    if len(xs) == 0:
        return None
    sx, sy = float(spacing_xy[0]), float(spacing_xy[1])
    # Only boundary voxels can be hull corners: keep those with a 4-neighbour outside.
    padded = np.pad(mask_yx != 0, 1)
    inner = (
        padded[1:-1, 1:-1]
        & padded[:-2, 1:-1]
        & padded[2:, 1:-1]
        & padded[1:-1, :-2]
        & padded[1:-1, 2:]
    )
    by, bx = np.nonzero((mask_yx != 0) & ~inner)
    hull = _hull(np.stack([bx * sx, by * sy], axis=1).astype(np.float64))
    diff = hull[:, None, :] - hull[None, :, :]
    dist = np.hypot(diff[..., 0], diff[..., 1])
    i, j = np.unravel_index(int(np.argmax(dist)), dist.shape)
    long_mm = float(dist[i, j])
    a, b = hull[i], hull[j]
    if long_mm == 0:
        centre = (float(xs[0]), float(ys[0]))
        return Axes(0.0, 0.0, (centre, centre), (centre, centre))
    u = (b - a) / long_mm
    n = np.array([-u[1], u[0]])
    # Each hull corner in (t along the long axis, s across it). The hull's chord across the long
    # axis is a concave function of t, so its longest is at a corner.
    t = (hull - a) @ u
    s = (hull - a) @ n
    t0, t1 = t, np.roll(t, -1)
    s0, s1 = s, np.roll(s, -1)
    best = (0.0, 0.0, 0.0, 0.0)  # length, t, lo, hi
    for tv in t:
        crosses = (tv - t0) * (tv - t1) <= 0
        flat = crosses & (t1 == t0)
        slant = crosses & (t1 != t0)
        at = s0[slant] + (tv - t0[slant]) / (t1[slant] - t0[slant]) * (s1[slant] - s0[slant])
        values = np.concatenate([at, s0[flat], s1[flat]])
        if len(values) and values.max() - values.min() > best[0]:
            best = (float(values.max() - values.min()), float(tv), values.min(), values.max())
    short_mm, tv, lo, hi = best

    def vox(p):
        return (float(p[0] / sx), float(p[1] / sy))

    def point(t_, s_):
        return vox(a + t_ * u + s_ * n)

    return Axes(long_mm, short_mm, (vox(a), vox(b)), (point(tv, lo), point(tv, hi)))


def measure(
    mask_zyx: np.ndarray, spacing_xyz, key_index: int | None, *, volume: bool = True
) -> dict:
    """A mask's figures as stored: volume_ml (None for clips), long/short axis in mm on slice
    ``key_index`` (None when the mask has no voxel there), and that slice."""
    count = int(np.count_nonzero(mask_zyx))
    out: dict = {
        "volume_ml": round(volume_ml(count, spacing_xyz), 4) if volume else None,
        "long_axis_mm": None,
        "short_axis_mm": None,
        "slice": key_index,
    }
    if key_index is not None and 0 <= key_index < mask_zyx.shape[0]:
        axes = recist(mask_zyx[key_index], spacing_xyz[:2])
        if axes is not None:
            out["long_axis_mm"] = round(axes.long_mm, 3)
            out["short_axis_mm"] = round(axes.short_mm, 3)
    return out
