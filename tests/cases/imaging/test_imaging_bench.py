"""bench/import_ct.py runs end to end on a tiny series and ends with its JSON line (figures are
not asserted: tests never judge wall-clock time)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_bench_prints_its_figures():
    out = subprocess.run(
        [sys.executable, "bench/import_ct.py", "--slices", "4", "--size", "32", "--repeat", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["shape"] == [4, 32, 32]
    assert figures["ct_200_slices_import_s"] is None  # only set for the real size
    assert figures["product_import_s"] > 0 and figures["baseline_pydicom_read_s"] > 0
