"""A series over DICOMweb vs the same series from a zip, both through the import service.

Starts a throwaway Orthanc with its DICOMweb plugin (tests/orthanc.py: free loopback port, own
storage and credentials), stores a generated 200-slice 512x512 CT series in it, and times, best
of --repeat, in a throwaway SQLite database:
- `dicomweb_200_slices_import_s`: an import over DICOMweb (annotator.pacs.importing: QIDO-RS
  instance list, WADO-RS series retrieve streamed to disk, then cases.importing.import_paths);
- `zip_200_slices_import_s`: the same files zipped, through cases.importing.import_paths.
`ratio` = DICOMweb / zip (goal <= 1.5). Ends with one JSON line. Not part of CI.

    python bench/dicomweb.py [--slices 200] [--size 512] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import zipfile
from pathlib import Path

import repo_path  # noqa: F401

_VAR = tempfile.mkdtemp(prefix="bench-dicomweb-var-")
os.environ["ANNOTATOR_VAR_DIR"] = _VAR
os.environ.pop("DATABASE_URL", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings")
os.environ["AUTO_PRESEGMENT"] = "0"


def run(n_slices: int = 200, size: int = 512, repeat: int = 2) -> dict:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from annotator.cases import importing as case_importing
    from annotator.cases.imaging.synthetic import ct_phantom, write_series
    from annotator.pacs import credentials, importing
    from annotator.pacs.models import DicomWebServer, ProjectServer
    from annotator.projects.models import Project
    from tests import orthanc

    def project(name):
        return Project.objects.create(name=name, slug=name, kind="volume", modality="CT",
                                      labels=[{"name": "lesion", "color": "#ff0000"}])  # fmt: skip

    with (
        tempfile.TemporaryDirectory(prefix="bench-dicomweb-") as tmp,
        orthanc.running(Path(tmp) / "orthanc") as pacs,
    ):
        folder = Path(tmp) / "ct"
        paths = write_series(folder, ct_phantom(n_slices, size), spacing=(0.7, 0.7, 1.25))
        pacs.upload(paths)
        zipped = Path(tmp) / "ct.zip"
        with zipfile.ZipFile(zipped, "w", zipfile.ZIP_STORED) as zf:
            for path in paths:
                zf.write(path, f"ct/{path.name}")
        import pydicom

        head = pydicom.dcmread(paths[0], stop_before_pixels=True)
        study, series = str(head.StudyInstanceUID), str(head.SeriesInstanceUID)
        server = DicomWebServer.objects.create(
            name="orthanc", base_url=pacs.dicomweb, auth="basic", username=pacs.username,
            secret_token=credentials.encrypt(pacs.password), timeout_s=120,
        )  # fmt: skip
        web_times, zip_times = [], []
        for i in range(repeat):
            p = project(f"web{i}")
            ProjectServer.objects.create(project=p, server=server)
            start = time.perf_counter()
            job = importing.request_import(None, p, "orthanc", study, [series], queue=False)[0]
            job = importing.run_import(job.pk)
            web_times.append(time.perf_counter() - start)
            assert job.status == "done", job.message
            p = project(f"zip{i}")
            start = time.perf_counter()
            report = case_importing.import_paths(p, [zipped], actor=None)
            zip_times.append(time.perf_counter() - start)
            assert len(report.cases) == 1
    web, zipped_s = min(web_times), min(zip_times)
    return {
        "slices": n_slices,
        "size": size,
        "dicomweb_200_slices_import_s": round(web, 3),
        "zip_200_slices_import_s": round(zipped_s, 3),
        "ratio": round(web / zipped_s, 2),
        "runs_dicomweb_s": [round(t, 3) for t in web_times],
        "runs_zip_s": [round(t, 3) for t in zip_times],
        "load_average": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    print(json.dumps(run(args.slices, args.size, args.repeat)))


if __name__ == "__main__":
    main()
