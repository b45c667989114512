"""A real Orthanc (DICOMweb plugin) per test module, seeded per test with generated series;
helpers to register it as a server of the project."""

from __future__ import annotations

import pytest
from pydicom.uid import generate_uid

from annotator.cases.imaging import synthetic
from annotator.pacs import credentials
from annotator.pacs.models import DicomWebServer, ProjectServer
from tests import orthanc as orthanc_harness
from tests.metrics.exports.conftest import version  # noqa: F401 (a fixture)


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    if not orthanc_harness.available():
        pytest.fail(
            "these tests need Orthanc with its DICOMweb plugin: "
            "apt-get install -y orthanc orthanc-dicomweb (deploy/run-tests.sh does it)"
        )
    with orthanc_harness.running(tmp_path_factory.mktemp("orthanc")) as server:
        yield server


@pytest.fixture
def seed(orthanc, tmp_path):
    """seed(n=8, size=64, **write_series options) → (paths, study_uid, series_uid): a
    generated series (with a fake patient) stored in Orthanc and left on disk."""
    count = iter(range(1000))

    def make(n: int = 8, size: int = 64, **options):
        folder = tmp_path / f"series-{next(count)}"
        study = options.pop("study_uid", None) or generate_uid()
        series = generate_uid()
        values = synthetic.ct_phantom(n, size, seed=n + size).astype(float)
        paths = synthetic.write_series(
            folder, values, study_uid=study, series_uid=series, **options
        )
        orthanc.upload(paths)
        return paths, study, series

    return make


def register(orthanc, project, *, name="pacs", password=None, **link) -> DicomWebServer:
    server = DicomWebServer.objects.create(
        name=name,
        base_url=orthanc.dicomweb,
        auth="basic",
        username=orthanc.username,
        secret_token=credentials.encrypt(orthanc.password if password is None else password),
        timeout_s=20,
    )
    ProjectServer.objects.create(project=project, server=server, **link)
    return server


@pytest.fixture
def pacs(orthanc, project):
    return register(orthanc, project, import_from=True, send_to=True)
