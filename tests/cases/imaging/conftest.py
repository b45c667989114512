"""Fixtures for the image import tests: limits with a private scratch folder, small series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from annotator.cases.imaging import ImportLimits
from annotator.cases.imaging.synthetic import ct_phantom, write_series


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    return tmp_path / "scratch"


@pytest.fixture
def limits(scratch: Path) -> ImportLimits:
    return ImportLimits(scratch_dir=scratch)


@pytest.fixture
def small_ct() -> np.ndarray:
    """HU values (z, y, x) of a 12-slice 32x40 phantom (non-square to catch x/y swaps)."""
    return ct_phantom(12, 40)[:, 4:36, :]


@pytest.fixture
def ct_folder(tmp_path: Path, small_ct: np.ndarray) -> Path:
    folder = tmp_path / "case01"
    write_series(folder, small_ct, spacing=(0.8, 0.6, 2.0), reverse_instance_numbers=True)
    return folder


@pytest.fixture(autouse=True)
def _nothing_left_behind(scratch: Path):
    """After every test — accepted or rejected import — the scratch folder is empty."""
    yield
    leftovers = list(scratch.rglob("*")) if scratch.exists() else []
    assert leftovers == [], leftovers
