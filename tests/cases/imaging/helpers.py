"""Helpers shared by the image import tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from annotator.cases.imaging import ImportRejected


def data_file(name: str) -> Path:
    """A file shipped with pydicom / pydicom-data (never a wildcard: that downloads)."""
    path = get_testdata_file(name)
    assert path is not None, name
    return Path(path)


def dicomdir_tests() -> Path:
    return data_file("CT_small.dcm").parent / "dicomdirtests"


def assert_rejected(excinfo: pytest.ExceptionInfo, *needles: str) -> str:
    """The message is specific: it contains every needle (case-insensitive)."""
    assert excinfo.type is ImportRejected
    message = str(excinfo.value)
    for needle in needles:
        assert needle.lower() in message.lower(), (needle, message)
    return message


def assert_clean(scratch: Path) -> None:
    """Nothing left behind in the scratch folder."""
    leftovers = list(scratch.rglob("*")) if scratch.exists() else []
    assert leftovers == []
