"""Cases for the browser tests: small phantoms that open fast on software WebGL."""

from __future__ import annotations

import numpy as np

from annotator.annotations import masks, services
from tests import factories


def blob_volume(shape_zyx=(24, 48, 48), center=(12, 24, 24), radius=7.0) -> np.ndarray:
    """CT-like: soft tissue with noise and a brighter sphere (a lesion)."""
    rng = np.random.default_rng(0)
    vol = rng.normal(40, 12, shape_zyx).astype(np.int16)
    z, y, x = np.ogrid[: shape_zyx[0], : shape_zyx[1], : shape_zyx[2]]
    inside = (z - center[0]) ** 2 + (y - center[1]) ** 2 + (x - center[2]) ** 2 < radius**2
    vol[inside] += 120
    return vol


def echo_clip(frames=20, size=(48, 64)) -> np.ndarray:
    """(t, y, x) uint8: a beating bright disc on speckle."""
    rng = np.random.default_rng(1)
    clip = (rng.random((frames, *size)) * 40).astype(np.uint8)
    yy, xx = np.mgrid[: size[0], : size[1]]
    for t in range(frames):
        r = 10 + 4 * np.sin(2 * np.pi * t / frames)
        clip[t][(yy - size[0] / 2) ** 2 + (xx - size[1] / 2) ** 2 < r * r] += 150
    return clip


def store_mask(target, mask_zyx: np.ndarray, *, actor, parent=None):
    """Save a mask revision as the annotator would (through the service)."""
    return services.store_revision(
        target,
        masks.summarize(mask_zyx.astype(np.uint8)),
        parent_id=parent,
        source="human",
        author=actor,
    ).revision


PASSWORD = factories.PASSWORD
