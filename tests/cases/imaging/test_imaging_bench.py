"""The import benchmark's run() works on a tiny series (figures are not asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def test_bench_run_returns_figures():
    path = Path(__file__).resolve().parents[3] / "bench" / "import_ct.py"
    spec = importlib.util.spec_from_file_location("bench_import_ct", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    figures = module.run(n_slices=4, size=32, repeat=1)
    assert figures["shape"] == [4, 32, 32]
    assert figures["ct_200_slices_import_s"] is None  # only set for the real size
    assert figures["import_s"] > 0 and figures["baseline_pydicom_read_s"] > 0
