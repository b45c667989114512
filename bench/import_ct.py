"""Import speed of a CT series: load_sources + write_canonical_nifti on a generated series.

Writes a 200-slice 512x512 CT series (shuffled file names, realistic fake header) to a temp
dir, times the import path, and times a baseline in the same process — a plain pydicom read of
every file with its pixel array — so the ratio shows the import's overhead on top of reading.
Ends with one JSON line of figures.

    python bench/import_ct.py [--slices 200] [--size 512] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotator.cases.imaging import ImportLimits, load_sources, write_canonical_nifti  # noqa: E402
from annotator.cases.imaging import nifti as _nifti  # noqa: E402
from annotator.cases.imaging.synthetic import ct_phantom, write_series  # noqa: E402


def _baseline(paths: list[Path]) -> float:
    start = time.perf_counter()
    total = 0
    for path in paths:
        total += int(pydicom.dcmread(path).pixel_array[0, 0])
    return time.perf_counter() - start


def _import(folder: Path, out: Path) -> tuple[float, float, tuple]:
    start = time.perf_counter()
    volumes = load_sources([folder], ImportLimits())
    loaded = time.perf_counter()
    write_canonical_nifti(volumes[0], out)
    written = time.perf_counter()
    return loaded - start, written - loaded, volumes[0].array.shape


def run(n_slices: int = 200, size: int = 512, repeat: int = 3) -> dict:
    """Generate the series, time baseline and import (best of `repeat`), return the figures."""
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        folder = Path(tmp) / "ct"
        values = ct_phantom(n_slices, size)
        paths = write_series(folder, values, spacing=(0.7, 0.7, 1.25))
        del values
        baseline = min(_baseline(paths) for _ in range(repeat))
        runs = [_import(folder, Path(tmp) / f"out{i}.nii.gz") for i in range(repeat)]
        best = min(runs, key=lambda r: r[0] + r[1])
        nifti_bytes = (Path(tmp) / "out0.nii.gz").stat().st_size
    total = best[0] + best[1]
    return {
        "ct_200_slices_import_s": round(total, 3) if (n_slices, size) == (200, 512) else None,
        "import_s": round(total, 3),
        "load_sources_s": round(best[0], 3),
        "write_nifti_s": round(best[1], 3),
        "baseline_pydicom_read_s": round(baseline, 3),
        "ratio_import_vs_baseline": round(total / baseline, 2),
        "shape": list(best[2]),
        "nifti_mb": round(nifti_bytes / 1e6, 1),
        "voxels_per_s": int(np.prod(best[2]) / total),
        "deflate": _nifti._deflate.__name__.split(".")[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    figures = run(args.slices, args.size, args.repeat)
    print(f"baseline (pydicom read of {args.slices} files): {figures['baseline_pydicom_read_s']} s")
    print(
        f"import: load_sources {figures['load_sources_s']} s + write_canonical_nifti "
        f"{figures['write_nifti_s']} s = {figures['import_s']} s "
        f"({figures['ratio_import_vs_baseline']}x baseline)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
