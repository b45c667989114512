"""Against a live Orthanc: import over DICOMweb equals import from files, searches show no
patient, failures keep nothing, a SEG sent by STOW-RS is in Orthanc and references the source."""

from __future__ import annotations

import io
import json
import socket
import threading
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
import requests
from django.core.files.storage import default_storage
from django.core.management import call_command

from annotator.audit.models import AuditEvent
from annotator.cases import importing as case_importing
from annotator.cases.imaging import read_canonical_nifti, synthetic
from annotator.cases.models import Case
from annotator.pacs import importing, search, sending
from annotator.pacs.models import JobStatus, SegSend, SeriesImport
from tests.metrics.conftest import box_mask
from tests.metrics.exports.conftest import accept_targets, export, open_zip

from .conftest import register

pytestmark = pytest.mark.integration
PATIENT = synthetic.FAKE_PATIENT


@pytest.fixture
def do_import(people, project, django_capture_on_commit_callbacks):
    """Request an import as the manager; its task runs on commit (eager Celery)."""

    def run(server, study, series):
        with django_capture_on_commit_callbacks(execute=True):
            jobs = importing.request_import(people["manager"], project, server, study, series)
        return SeriesImport.objects.get(pk=jobs[0].pk)

    return run


def _volume(case: Case):
    with default_storage.open(case.image.file.name, "rb") as fh:
        data = fh.read()
    path = Path(default_storage.path(case.image.file.name))
    return read_canonical_nifti(path), data


def _no_identifier(project):
    """Nothing stored about the project mentions the fake patient."""
    texts = [json.dumps(list(AuditEvent.objects.values("data")), default=str)]
    for job in SeriesImport.objects.filter(project=project):
        texts.append(json.dumps([job.message, job.report, job.instances]))
    for case in Case.objects.filter(project=project).select_related("image"):
        texts.append(json.dumps([case.study_id, case.image.metadata, case.image.dicom]))
        texts.append(_volume(case)[1].decode("latin-1"))
    blob = "\n".join(texts)
    for key in ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber", "StudyID"):
        assert PATIENT[key] not in blob, key
    assert "Testpatient" not in blob


def test_import_equals_file_import_voxel_for_voxel(project, do_import, pacs, seed, other_project):
    paths, study, series = seed(n=8, size=64, orientation=(0, 1, 0, 0, 0, -1))
    job = do_import("pacs", study, [series])
    assert job.status == JobStatus.DONE, job.message
    assert (job.done, job.total) == (8, 8)
    web_case = job.case
    file_case = case_importing.import_paths(other_project, [paths[0].parent], actor=None).cases[0]
    web, _ = _volume(web_case)
    files, _ = _volume(file_case)
    np.testing.assert_array_equal(web.array, files.array)
    for attr in ("spacing", "origin", "direction"):
        np.testing.assert_allclose(getattr(web, attr), getattr(files, attr), atol=1e-9)
    assert web_case.image.dicom == file_case.image.dicom
    assert web_case.study_id == file_case.study_id or web_case.fingerprint  # keyed per install
    _no_identifier(project)
    assert not any(Path(p).exists() for p in [importing.scratch(job)])
    # The same series again: skipped from its UIDs, before a byte is fetched.
    again = do_import("pacs", study, [series])
    assert again.status == JobStatus.SKIPPED and web_case.study_id in again.message
    assert again.bytes_received == 0
    assert Case.objects.filter(project=project).count() == 1


def test_search_shows_what_is_needed_and_no_patient(project, people, pacs, seed):
    _, study, series = seed(n=6, size=32)
    rows = search.search_series(people["manager"], project, "pacs", {"study_uid": study})
    assert len(rows) == 1
    row = rows[0]
    assert row["series_uid"] == series and row["modality"] == "CT"
    assert row["instances"] == 6 and row["body_part"] == "ABDOMEN"
    assert "Testpatient" not in json.dumps(rows) and PATIENT["PatientID"] not in json.dumps(rows)
    filters = {"study_uid": study, "modality": "CT", "study_date": "20240101-20240201",
               "body_part": "abdomen", "series_description": "soft"}  # fmt: skip
    assert len(search.search_series(people["manager"], project, "pacs", filters)) == 1
    for miss in ({"study_date": "2025-01-01/2025-02-01"}, {"modality": "MR"},
                 {"min_instances": 7}, {"max_instances": 5}, {"body_part": "HEAD"}):  # fmt: skip
        found = search.search_series(
            people["manager"], project, "pacs", {"study_uid": study, **miss}
        )
        assert found == [], miss


def test_cli_import_and_whole_study(project, pacs, seed):
    _, study, series = seed(n=5, size=32)
    _, _, second = seed(n=4, size=32, study_uid=study)
    out = io.StringIO()
    call_command("import_dicomweb", project=project.slug, source="pacs", study=study, stdout=out)
    assert out.getvalue().count("imported ") == 2, out.getvalue()
    assert Case.objects.filter(project=project).count() == 2


def _failed_cleanly(project, job, code_text):
    job = SeriesImport.objects.get(pk=job.pk)
    assert job.status == JobStatus.FAILED
    assert code_text in job.message, job.message
    assert not Case.objects.filter(project=project).exists()
    assert not importing.scratch(job).exists()
    assert AuditEvent.objects.filter(action="dicomweb.import.failed").exists()
    return job


def test_wrong_credentials_fail_clearly(project, people, orthanc, seed, do_import):
    register(orthanc, project, name="badauth", password="wrong")
    _, study, series = seed(n=3, size=16)
    job = _failed_cleanly(
        project, do_import("badauth", study, [series]), "refused the credentials (HTTP 401)"
    )
    assert "wrong" not in job.message
    with pytest.raises(Exception, match="refused the credentials"):
        search.search_series(people["manager"], project, "badauth", {})


def test_missing_series_fails_clearly(project, do_import, pacs, seed):
    _, study, _ = seed(n=3, size=16)
    _failed_cleanly(project, do_import("pacs", study, ["1.2.3.4.5"]), "not found")


class _CuttingProxy:
    """Forwards to Orthanc, but cuts a WADO-RS series retrieve after `cut` bytes of its body
    (a server that goes away mid-transfer)."""

    def __init__(self, orthanc, cut: int):
        self.orthanc, self.cut = orthanc, cut
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                request += chunk
            line, *headers = request.split(b"\r\n\r\n")[0].decode().split("\r\n")
            method, target, _ = line.split(" ")
            wanted = dict(h.split(": ", 1) for h in headers if ": " in h)
            reply = requests.request(
                method,
                self.orthanc.url + target,
                headers={
                    k: v for k, v in wanted.items() if k.lower() in ("accept", "authorization")
                },
                stream=True,
            )
            body = reply.raw.read()
            cut = "/instances" not in target.split("?")[0] and "multipart" in reply.headers.get(
                "Content-Type", ""
            )
            kind = reply.headers["Content-Type"]
            head = [f"HTTP/1.1 {reply.status_code} X", f"Content-Type: {kind}",
                    f"Content-Length: {len(body)}", "Connection: close", "", ""]  # fmt: skip
            conn.sendall("\r\n".join(head).encode())
            conn.sendall(body[: self.cut] if cut else body)

    def close(self):
        self.sock.close()


def test_server_disappearing_mid_transfer_keeps_nothing(project, do_import, orthanc, seed):
    proxy = _CuttingProxy(orthanc, cut=3 * 8500)
    try:
        server = register(orthanc, project, name="flaky")
        server.base_url = f"http://127.0.0.1:{proxy.port}/dicom-web"
        server.save()
        _, study, series = seed(n=6, size=64)
        _failed_cleanly(
            project, do_import("flaky", study, [series]), "connection ended mid-transfer"
        )
    finally:
        proxy.close()


def test_import_resumes_after_a_worker_restart(project, people, pacs, seed, tmp_path):
    paths, study, series = seed(n=6, size=32)
    job = importing.request_import(
        people["manager"], project, "pacs", study, [series], queue=False
    )[0]
    # The first worker fetched three instances, then died (the task is redelivered).
    folder = importing.scratch(job)
    folder.mkdir(parents=True)
    first = sorted(paths, key=lambda p: pydicom.dcmread(p).InstanceNumber)[:3]
    for path in first:
        sop = pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID
        (folder / f"{sop}.dcm").write_bytes(path.read_bytes())
    (folder / ".part-halfwritten").write_bytes(b"\0" * 100)
    SeriesImport.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)
    seen = []
    job = importing.run_import(job.pk, progress=lambda done, total, stage: seen.append(done))
    assert job.status == JobStatus.DONE, job.message
    assert seen[0] == 4 and seen[-1] == 6  # only the three missing ones were fetched
    assert Case.objects.get(project=project).image.shape == [32, 32, 6]


def test_seg_sent_by_stow_on_acceptance(
    project, people, orthanc, seed, version, django_capture_on_commit_callbacks
):
    register(orthanc, project, import_from=True, send_to=True, send_on_accept=True)
    paths, study, series = seed(n=6, size=32)
    importing.request_import(people["manager"], project, "pacs", study, [series], queue=False)
    job = importing.run_import(SeriesImport.objects.get(project=project).pk)
    case = Case.objects.select_related("image").get(pk=job.case_id)
    mask = box_mask(case, z=(1, 4), y=(5, 20), x=(6, 18))
    with django_capture_on_commit_callbacks(execute=True):
        accept_targets(project, people, case, [mask], version=version)
    send = SegSend.objects.get(case=case)
    assert send.status == JobStatus.DONE, (send.message, send.errors)
    assert send.trigger == "accepted" and send.patient_from == "pacs"
    # In Orthanc, in the source study, with the source patient, referencing the source series.
    reply = requests.get(
        f"{orthanc.dicomweb}/studies/{study}/series/{send.seg_series_uid}/instances/{send.seg_sop_uid}",
        headers={"Accept": 'multipart/related; type="application/dicom"'},
        auth=orthanc.auth,
    )
    assert reply.ok
    body = reply.content
    start = body.index(b"\r\n\r\n") + 4
    end = body.rindex(b"\r\n--")
    seg = hd.seg.segread(io.BytesIO(body[start:end]))
    assert seg.StudyInstanceUID == study
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == series
    assert seg.PatientID == PATIENT["PatientID"] and str(seg.PatientName) == PATIENT["PatientName"]
    stored = seg.get_segment_description(1)
    assert stored.SegmentLabel.startswith("lesion #")
    assert AuditEvent.objects.filter(action="dicomweb.send.done").exists()
    # Nothing of the patient stayed here; the download export stays de-identified.
    _no_identifier(project)
    download = open_zip(export(people, project, "dicom-seg", case=case))
    exported = pydicom.dcmread(io.BytesIO(download.read(f"{case.study_id}/seg.dcm")))
    assert exported.PatientName == "" and exported.PatientID == ""


def test_send_retries_with_backoff_then_fails(
    project, people, orthanc, version, settings, tmp_path
):
    settings.DICOMWEB_SEND_ATTEMPTS = 3
    importing_server = register(orthanc, project, name="pacs", import_from=True)
    paths = synthetic.write_series(tmp_path / "src", synthetic.ct_phantom(4, 16).astype(float))
    case = case_importing.import_paths(project, [paths[0].parent], actor=None).cases[0]
    accept_targets(
        project, people, case, [box_mask(case, z=(1, 3), y=(2, 8), x=(2, 8))], version=version
    )
    dead = register(orthanc, project, name="gone", import_from=False, send_to=True)
    dead.base_url = f"http://127.0.0.1:{_closed_port()}/dicom-web"
    dead.save()
    assert importing_server
    send = sending.request_sends(people["manager"], project, "gone", [case.pk])[0]
    for attempt in (1, 2):
        send = sending.attempt_send(send.pk)
        assert send.status == JobStatus.RETRYING and send.attempts == attempt
        assert send.next_attempt_at is not None and "cannot reach it" in send.message
    assert sending.backoff(2) == 2 * sending.backoff(1)
    send = sending.attempt_send(send.pk)
    assert send.status == JobStatus.FAILED and len(send.errors) == 3
    actions = list(
        AuditEvent.objects.filter(action__startswith="dicomweb.send").values_list(
            "action", flat=True
        )
    )
    assert actions.count("dicomweb.send.retry") == 2 and "dicomweb.send.failed" in actions


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
