"""CT intensity windows: the presets (shared with the viewer through ct_windows.json) and the
checks of a window people give. No torch here: the web process validates windows too."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

Window = str | tuple[float, float]

# CT windows as (center/level, width) in HU. The viewer reads the same file (its Shift+1..5).
_CT_WINDOWS_FILE = json.loads(Path(__file__).with_name("ct_windows.json").read_text())
CT_WINDOWS: dict[str, tuple[float, float]] = {
    w["key"]: (float(w["center"]), float(w["width"])) for w in _CT_WINDOWS_FILE["windows"]
}
DEFAULT_CT_WINDOW: str = _CT_WINDOWS_FILE["default"]


def window_bounds(window: Window) -> tuple[float, float]:
    """(low, high) intensities of a preset name or an explicit (center, width)."""
    if isinstance(window, str):
        key = window.strip().lower()
        if key not in CT_WINDOWS:
            raise ValueError(f"unknown CT window {window!r}; presets: {', '.join(CT_WINDOWS)}")
        center, width = CT_WINDOWS[key]
    else:
        try:
            center, width = (float(v) for v in window)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"window must be a preset name or (center, width), got {window!r}"
            ) from exc
        if not (np.isfinite(center) and np.isfinite(width)) or width <= 0:
            raise ValueError(f"window (center, width) needs finite values and width > 0: {window}")
    return center - width / 2.0, center + width / 2.0


def parse_window(value) -> Window:
    """A window as people give it (a preset name, any case, or (center, width) with a finite
    centre and a positive width), checked and in the form the engine takes; ValueError says what
    is wrong."""
    if isinstance(value, str):
        key = value.strip().lower()
        window_bounds(key)
        return key
    window_bounds(value)
    center, width = (float(v) for v in value)
    return (center, width)
