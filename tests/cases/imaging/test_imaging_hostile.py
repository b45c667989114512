"""Hostile uploads: headers that declare far more data than the file holds are refused before
anything of the declared size is allocated."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.cases.imaging import ImportRejected, load_sources

from ...hostile import header_bomb_nifti, peak_allocated

MiB = 1024 * 1024


@pytest.mark.parametrize("name", ["bomb.nii", "bomb.nii.gz"])
@pytest.mark.parametrize("dtype", [np.int16, np.float64])
def test_tiny_nifti_declaring_a_huge_volume_is_refused_without_allocating_it(
    tmp_path, limits, name, dtype
):
    path = tmp_path / name
    header_bomb_nifti(path, shape=(1024, 1024, 1000), dtype=dtype)
    assert path.stat().st_size < 1000
    peak, outcome = peak_allocated(lambda: load_sources([path], limits))
    assert peak < 16 * MiB, f"{peak / MiB:.0f} MiB allocated for a {path.stat().st_size}-byte file"
    assert isinstance(outcome, ImportRejected), outcome
    assert name in str(outcome) and "declares" in str(outcome)


def test_nifti_over_the_uncompressed_limit_is_refused_from_its_header(tmp_path, scratch):
    from annotator.cases.imaging import ImportLimits

    path = tmp_path / "big.nii.gz"
    header_bomb_nifti(path, shape=(64, 64, 64), dtype=np.float64)
    with pytest.raises(ImportRejected, match="more than the limit"):
        load_sources([path], ImportLimits(scratch_dir=scratch, max_uncompressed_bytes=MiB))


def test_nifti_with_part_of_its_data_is_refused_and_costs_what_it_holds(tmp_path, limits):
    path = tmp_path / "half.nii.gz"
    # 64 MiB declared, 8 MiB present: the gzip could hold it, so it is read, and found short.
    header_bomb_nifti(path, shape=(256, 256, 512), dtype=np.uint8, payload=bytes(8 * MiB))
    peak, outcome = peak_allocated(lambda: load_sources([path], limits))
    assert isinstance(outcome, ImportRejected), outcome
    assert "truncated" in str(outcome)
    assert peak < 24 * MiB, f"{peak / MiB:.0f} MiB allocated"
