"""Import speed of a CT series, through the product's import service.

Writes a 200-slice 512x512 CT series (shuffled file names, realistic fake header) to a temp
dir and times, best of --repeat:
- the full product path (`annotator.cases.importing.import_paths`: read, check, de-identify,
  canonical NIfTI into the file store, database rows in a throwaway SQLite database) — this is
  `ct_200_slices_import_s`;
- its two heavy steps alone (load_sources, write_canonical_nifti);
- a baseline in the same process: a plain pydicom read of every file with its pixel array, so
  the ratio shows the import's overhead on top of just reading the files.
Ends with one JSON line of figures.

    python bench/import_ct.py [--slices 200] [--size 512] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
import repo_path  # noqa: E402, F401

_VAR = tempfile.mkdtemp(prefix="bench-import-var-")
os.environ["ANNOTATOR_VAR_DIR"] = _VAR  # a throwaway database and file store
os.environ.pop("DATABASE_URL", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings")
os.environ["AUTO_PRESEGMENT"] = "0"

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


def _product_import(folder: Path) -> float:
    """import_paths into a fresh project (so the series is not a re-import); seconds."""
    from annotator.cases import importing
    from annotator.projects.models import Project

    n = Project.objects.count()
    project = Project.objects.create(
        name=f"bench {n}", slug=f"bench-{n}", labels=[{"name": "lesion", "color": "#ff0000"}]
    )
    start = time.perf_counter()
    report = importing.import_paths(project, [folder], actor=None)
    elapsed = time.perf_counter() - start
    assert len(report.cases) == 1, report.as_dict()
    return elapsed


def _setup_django() -> None:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def run(n_slices: int = 200, size: int = 512, repeat: int = 3) -> dict:
    """Generate the series, time baseline and import (best of `repeat`), return the figures."""
    _setup_django()
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        folder = Path(tmp) / "ct"
        values = ct_phantom(n_slices, size)
        paths = write_series(folder, values, spacing=(0.7, 0.7, 1.25))
        del values
        baseline = min(_baseline(paths) for _ in range(repeat))
        runs = [_import(folder, Path(tmp) / f"out{i}.nii.gz") for i in range(repeat)]
        best = min(runs, key=lambda r: r[0] + r[1])
        nifti_bytes = (Path(tmp) / "out0.nii.gz").stat().st_size
        product = min(_product_import(folder) for _ in range(repeat))
    total = best[0] + best[1]
    return {
        "ct_200_slices_import_s": round(product, 3) if (n_slices, size) == (200, 512) else None,
        "product_import_s": round(product, 3),
        "ratio_product_vs_baseline": round(product / baseline, 2),
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
    try:
        figures = run(args.slices, args.size, args.repeat)
    finally:
        shutil.rmtree(_VAR, ignore_errors=True)
    print(f"baseline (pydicom read of {args.slices} files): {figures['baseline_pydicom_read_s']} s")
    print(
        f"import: load_sources {figures['load_sources_s']} s + write_canonical_nifti "
        f"{figures['write_nifti_s']} s = {figures['import_s']} s "
        f"({figures['ratio_import_vs_baseline']}x baseline)"
    )
    print(
        f"product import (service, file store, database): {figures['product_import_s']} s "
        f"({figures['ratio_product_vs_baseline']}x baseline)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
