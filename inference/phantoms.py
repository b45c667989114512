"""Synthetic phantoms with known ground truth: CT-like lesions, MR-like liver lesions, echo clips.

They train the starter model, drive the simulated annotation study (``bench/loop.py``), fill the
demo, and make every accuracy figure measurable. Everything is generated from a seed, so a
phantom is reproducible from ``(kind, seed)``.

- CT: an abdomen-like body (soft tissue ~40 HU, fat rim, a liver-like organ, air outside) with
  Gaussian noise, and one ellipsoidal lesion of varied size and contrast (hypo- or hyperdense).
- MR: a liver-like organ in a darker body (arbitrary MR units, percentile-normalised by the
  engine) with one hypo- or hyperintense lesion inside it.
- Echo: a cine clip of a beating left-ventricle blob (dark cavity inside a bright myocardial
  wall) with speckle; the target is the cavity, per frame.

Shapes are (D, H, W) for volumes (int16 HU for CT, float32 for MR) and (T, H, W) uint8 for clips.
Spacing is (z, y, x) in mm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("ct", "mr", "echo")


@dataclass
class Phantom:
    image: np.ndarray  # (D, H, W) volume or (T, H, W) clip
    mask: np.ndarray  # uint8 (D, H, W): the target
    modality: str  # "CT", "MR" or "US"
    label: str
    key_index: int  # slice/frame of the prompt (the target's largest cross-section)
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 on key_index (voxel edges)
    spacing_zyx: tuple[float, float, float]
    window: str | None = None  # CT window the phantom is made for
    kind: str = "ct"

    @property
    def is_video(self) -> bool:
        return self.kind == "echo"


def key_slice(mask: np.ndarray) -> int:
    """The slice with the largest cross-section (the annotator's natural prompt slice)."""
    areas = mask.reshape(mask.shape[0], -1).sum(axis=1)
    if not areas.any():
        raise ValueError("the mask is empty")
    return int(np.argmax(areas))


def mask_box(mask2d: np.ndarray) -> tuple[float, float, float, float]:
    """Tight box (x0, y0, x1, y1) of a 2D mask, as voxel edges."""
    ys, xs = np.nonzero(mask2d)
    if ys.size == 0:
        raise ValueError("the slice mask is empty")
    return (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))


def _ellipsoid(shape, center, radii, rotation: float = 0.0) -> np.ndarray:
    """Boolean ellipsoid in a (D, H, W) grid, rotated in-plane by ``rotation`` radians."""
    zz, yy, xx = np.ogrid[: shape[0], : shape[1], : shape[2]]
    dz, dy, dx = zz - center[0], yy - center[1], xx - center[2]
    c, s = np.cos(rotation), np.sin(rotation)
    u, v = c * dx + s * dy, -s * dx + c * dy
    return (dz / radii[0]) ** 2 + (v / radii[1]) ** 2 + (u / radii[2]) ** 2 <= 1.0


def _lumpy(rng: np.random.Generator, shape, scale: float, amplitude: float) -> np.ndarray:
    """Smooth random texture: coarse noise upsampled, so organs are not flat."""
    coarse = rng.normal(0.0, amplitude, (max(2, shape[0] // 4), 8, 8)).astype(np.float32)
    reps = [int(np.ceil(n / c)) for n, c in zip(shape, coarse.shape, strict=True)]
    big = np.kron(coarse, np.ones(reps, dtype=np.float32))[: shape[0], : shape[1], : shape[2]]
    return big * scale


def _body(rng: np.random.Generator, shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Body and liver-like organ masks plus the lesion region allowed inside the body."""
    d, h, w = shape
    radii = (d * 4, h * rng.uniform(0.40, 0.46), w * rng.uniform(0.44, 0.48))
    body = _ellipsoid(shape, (d / 2, h / 2, w / 2), radii)
    liver = _ellipsoid(
        shape,
        (d / 2, h * rng.uniform(0.42, 0.5), w * rng.uniform(0.38, 0.46)),
        (d * 4, h * rng.uniform(0.24, 0.3), w * rng.uniform(0.22, 0.28)),
        rng.uniform(-0.4, 0.4),
    )
    return body, liver & body, body


def _lesion(rng, shape, inside: np.ndarray, r_min: float, r_max: float) -> np.ndarray:
    """An ellipsoidal lesion fully inside ``inside`` (retries a few positions)."""
    d, h, w = shape
    for _ in range(50):
        r = rng.uniform(r_min, r_max)
        radii = (
            rng.uniform(0.35, 0.7) * r * min(1.0, d / 24),
            r * rng.uniform(0.75, 1.0),
            r * rng.uniform(0.75, 1.0),
        )
        radii = (max(radii[0], 1.6), radii[1], radii[2])
        center = (
            rng.uniform(radii[0] + 1, d - radii[0] - 1),
            rng.uniform(r + 2, h - r - 2),
            rng.uniform(r + 2, w - r - 2),
        )
        lesion = _ellipsoid(shape, center, radii, rng.uniform(0, np.pi))
        if lesion.any() and not (lesion & ~inside).any():
            return lesion
    raise RuntimeError("could not place a lesion; make the phantom larger")


def _finish(image, mask, modality, label, spacing, window, kind) -> Phantom:
    key = key_slice(mask)
    return Phantom(
        image=image,
        mask=mask.astype(np.uint8),
        modality=modality,
        label=label,
        key_index=key,
        box=mask_box(mask[key]),
        spacing_zyx=spacing,
        window=window,
        kind=kind,
    )


def ct_lesion_volume(seed: int, shape=(32, 128, 128)) -> Phantom:
    """CT-like abdomen with one lesion (radius 6-20 px in-plane, ±40-110 HU contrast)."""
    rng = np.random.default_rng(seed)
    body, liver, _ = _body(rng, shape)
    hu = np.full(shape, -1000.0, dtype=np.float32)
    hu[body] = -90.0  # fat rim
    inner = _ellipsoid(shape, (shape[0] / 2, shape[1] / 2, shape[2] / 2),
                       (shape[0] * 4, shape[1] * 0.37, shape[2] * 0.41))  # fmt: skip
    hu[inner & body] = 35.0
    hu[liver] = rng.uniform(50.0, 70.0)
    hu += _lumpy(rng, shape, 1.0, 8.0) * body
    lesion = _lesion(rng, shape, liver, 6.0, 20.0)
    contrast = rng.uniform(40.0, 110.0) * rng.choice([-1.0, 1.0])
    hu[lesion] += contrast
    hu += rng.normal(0.0, rng.uniform(6.0, 14.0), shape).astype(np.float32)
    spacing = (float(rng.choice([2.5, 3.0, 5.0])), 0.8, 0.8)
    return _finish(np.round(hu).astype(np.int16), lesion, "CT", "lesion", spacing, "abdomen", "ct")


def mr_liver_volume(seed: int, shape=(32, 128, 128)) -> Phantom:
    """MR-like liver (T2-ish units) with one hypo- or hyperintense lesion (radius 6-18 px)."""
    rng = np.random.default_rng(seed)
    body, liver, _ = _body(rng, shape)
    mr = np.zeros(shape, dtype=np.float32)
    mr[body] = 180.0
    mr[liver] = rng.uniform(260.0, 320.0)
    mr += _lumpy(rng, shape, 1.0, 15.0) * body
    lesion = _lesion(rng, shape, liver, 6.0, 18.0)
    mr[lesion] *= rng.choice([rng.uniform(0.35, 0.65), rng.uniform(1.5, 2.2)])
    mr += body * rng.normal(0.0, rng.uniform(10.0, 22.0), shape).astype(np.float32)
    mr = np.clip(mr, 0.0, None)
    spacing = (float(rng.choice([3.0, 5.0, 6.0])), 1.2, 1.2)
    return _finish(mr.astype(np.float32), lesion, "MR", "lesion", spacing, None, "mr")


def echo_clip(seed: int, frames: int = 32, size: int = 128) -> Phantom:
    """Apical-view-like cine: an elongated LV cavity beating at 50-90 bpm (30 fps), speckle."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames, dtype=np.float32)
    period = 30.0 * 60.0 / rng.uniform(50.0, 90.0)
    phase = rng.uniform(0, 2 * np.pi)
    squeeze = 1.0 - rng.uniform(0.15, 0.3) * (0.5 + 0.5 * np.sin(2 * np.pi * t / period + phase))
    cy, cx = size * rng.uniform(0.45, 0.55), size * rng.uniform(0.42, 0.58)
    ry, rx = size * rng.uniform(0.22, 0.3), size * rng.uniform(0.11, 0.16)
    tilt = rng.uniform(-0.35, 0.35)
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    c, s = np.cos(tilt), np.sin(tilt)
    sector = (np.abs(np.arctan2(xx - size / 2, yy + size * 0.1)) < 0.62) & (yy < size * 0.97)
    clip = np.zeros((frames, size, size), dtype=np.float32)
    mask = np.zeros((frames, size, size), dtype=bool)
    wall = rng.uniform(0.3, 0.5)
    for i in range(frames):
        u, v = c * (xx - cx) + s * (yy - cy), -s * (xx - cx) + c * (yy - cy)
        k = squeeze[i]
        r = (v / (ry * (0.9 + 0.1 * k))) ** 2 + (u / (rx * k)) ** 2
        cavity = r <= 1.0
        myocardium = (r > 1.0) & (r <= (1.0 + wall) ** 2)
        frame = np.full((size, size), rng.uniform(35, 55), dtype=np.float32)
        frame[myocardium] = rng.uniform(140, 190)
        frame[cavity] = rng.uniform(8, 20)
        speckle = rng.rayleigh(1.0, (size, size)).astype(np.float32)
        frame = frame * (0.55 + 0.45 * speckle)
        frame[~sector] = 0.0
        clip[i] = frame
        mask[i] = cavity & sector
    image = np.clip(clip, 0, 255).astype(np.uint8)
    key = int(rng.integers(0, frames))
    return Phantom(
        image=image,
        mask=mask.astype(np.uint8),
        modality="US",
        label="left ventricle",
        key_index=key,
        box=mask_box(mask[key]),
        spacing_zyx=(1.0, 0.3, 0.3),
        window=None,
        kind="echo",
    )


_MAKERS = {"ct": ct_lesion_volume, "mr": mr_liver_volume, "echo": echo_clip}


def make_phantom(kind: str, seed: int, **kwargs) -> Phantom:
    if kind not in _MAKERS:
        raise ValueError(f"unknown phantom kind {kind!r}; known: {', '.join(KINDS)}")
    return _MAKERS[kind](seed, **kwargs)


SEED_STRIDE = 100_003  # cohorts of fewer phantoms than this from different seeds never share one


def phantom_seeds(seed: int, count: int) -> list[int]:
    """The seed of each phantom :func:`make_phantoms` makes from ``seed``."""
    if count > SEED_STRIDE:
        raise ValueError(f"at most {SEED_STRIDE} phantoms per cohort")
    return [seed * SEED_STRIDE + i for i in range(count)]


def make_phantoms(kinds, count: int, seed: int, **kwargs) -> list[Phantom]:
    """``count`` phantoms cycling through ``kinds``, with seeds derived from ``seed``."""
    kinds = list(kinds)
    return [
        make_phantom(kinds[i % len(kinds)], s, **kwargs)
        for i, s in enumerate(phantom_seeds(seed, count))
    ]


def ct_demo_case(seed: int, slices: int = 64, size: int = 256) -> tuple[np.ndarray, list[Phantom]]:
    """A demo CT volume with two lesions: the volume and one Phantom per lesion (same image)."""
    rng = np.random.default_rng(seed)
    shape = (slices, size, size)
    body, liver, _ = _body(rng, shape)
    hu = np.full(shape, -1000.0, dtype=np.float32)
    hu[body] = 35.0
    hu[liver] = 60.0
    hu += _lumpy(rng, shape, 1.0, 8.0) * body
    lesions = []
    taken = np.zeros(shape, dtype=bool)
    while len(lesions) < 2:
        lesion = _lesion(rng, shape, liver & ~taken, size / 21, size / 8)
        idx = np.nonzero(lesion)
        center = [float(np.mean(a)) for a in idx]
        radii = [float(np.ptp(a)) / 2 + margin for a, margin in zip(idx, (2, 6, 6), strict=True)]
        taken |= _ellipsoid(shape, center, radii)  # keep the next lesion apart from this one
        hu[lesion] += rng.uniform(50.0, 100.0) * rng.choice([-1.0, 1.0])
        lesions.append(lesion)
    hu += rng.normal(0.0, 10.0, shape).astype(np.float32)
    volume = np.round(hu).astype(np.int16)
    spacing = (2.5, 1.5 * 128 / size, 1.5 * 128 / size)
    return volume, [
        _finish(volume, lesion, "CT", "lesion", spacing, "abdomen", "ct") for lesion in lesions
    ]
