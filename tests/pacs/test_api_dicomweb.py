"""DICOMweb API: every endpoint × every role; secrets never shown back; the multipart reader."""

from __future__ import annotations

import io
import socket

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from annotator.pacs import client as dicomweb
from annotator.pacs import credentials
from annotator.pacs.models import DicomWebServer, ProjectServer, SegSend, SeriesImport
from tests import factories
from tests.matrix import endpoint_by_role_test


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def world(project, other_project, people):
    server = DicomWebServer.objects.create(
        name="pacs",
        base_url=f"http://127.0.0.1:{_closed_port()}/dicom-web",
        auth="bearer",
        secret_token=credentials.encrypt("s3cr3t-token"),
        timeout_s=2,
    )
    spare = DicomWebServer.objects.create(name="spare", base_url="http://127.0.0.1:9/x")
    link = ProjectServer.objects.create(project=project, server=server, send_to=True)
    case = factories.case(project)
    send = SegSend.objects.create(
        project=project, case=case, server=server, trigger="request", status="failed"
    )
    job = SeriesImport.objects.create(
        project=project, server=server, study_uid=UID, series_uid=UID + ".9", status="done"
    )
    return {"project": project, "server": server, "spare": spare, "link": link, "case": case,
            "send": send, "import": job}  # fmt: skip


A = {"anonymous": 401, "outsider": 403, "annotator": 403, "annotator2": 403, "reviewer": 403,
     "manager": 403, "admin": 200}  # fmt: skip
M = {"anonymous": 401, "outsider": 404, "annotator": 403, "annotator2": 403, "reviewer": 403,
     "manager": 200, "admin": 200}  # fmt: skip
UID = "1.2.826.0.1.3680043.8.498.1"
CASES = [
    ("servers", "get", lambda w: "/api/v1/dicomweb/servers/", None, None, A),
    ("add server", "post", lambda w: "/api/v1/dicomweb/servers/",
     lambda w: {"name": "other", "base_url": "https://pacs.example/dicom-web", "auth": "basic",
                "username": "u", "secret": "pw"}, "json", {**A, "admin": 201}),
    ("server", "get", lambda w: f"/api/v1/dicomweb/servers/{w['server'].pk}/", None, None, A),
    ("change server", "patch", lambda w: f"/api/v1/dicomweb/servers/{w['server'].pk}/",
     lambda w: {"timeout_s": 5}, "json", A),
    ("delete server", "delete", lambda w: f"/api/v1/dicomweb/servers/{w['spare'].pk}/",
     None, None, {**A, "admin": 204}),
    ("links", "get", lambda w: f"/api/v1/projects/{w['project'].pk}/dicomweb/links/",
     None, None, M),
    ("link", "post", lambda w: f"/api/v1/projects/{w['project'].pk}/dicomweb/links/",
     lambda w: {"server": "spare", "send_to": True}, "json",
     {**M, "manager": 403, "admin": 201}),
    ("unlink", "delete",
     lambda w: f"/api/v1/projects/{w['project'].pk}/dicomweb/links/{w['link'].pk}/",
     None, None, {**M, "manager": 403, "admin": 204}),
    ("search", "get", lambda w: f"/api/v1/projects/{w['project'].pk}/dicomweb/search?server=pacs",
     None, None, {**M, "manager": 502, "admin": 502}),  # the server is down: a clear 502
    ("imports", "get", lambda w: f"/api/v1/projects/{w['project'].pk}/dicomweb/imports/",
     None, None, M),
    ("import", "post", lambda w: f"/api/v1/projects/{w['project'].pk}/dicomweb/imports/",
     lambda w: {"server": "pacs", "study": UID, "series": [UID + ".2"]}, "json",
     {**M, "manager": 202, "admin": 202}),
    ("import detail", "get", lambda w: f"/api/v1/dicomweb/imports/{w['import'].pk}/",
     None, None, M),
    ("sends", "get", lambda w: f"/api/v1/projects/{w['project'].pk}/dicomweb/sends/",
     None, None, M),
    ("send", "post", lambda w: f"/api/v1/projects/{w['project'].pk}/dicomweb/sends/",
     lambda w: {"server": "pacs"}, "json", {**M, "manager": 400, "admin": 400}),  # none accepted
    ("case sends", "get", lambda w: f"/api/v1/cases/{w['case'].pk}/dicomweb/sends/",
     None, None, {**M, "annotator": 404, "annotator2": 404}),
    ("retry send", "post", lambda w: f"/api/v1/dicomweb/sends/{w['send'].pk}/retry",
     None, None, {**M, "manager": 202, "admin": 202}),
]  # fmt: skip

test_endpoint_by_role = endpoint_by_role_test(CASES)


def test_secret_is_stored_encrypted_and_never_shown(people, client_for, world):
    api = client_for(people["admin"])
    reply = api.post(
        "/api/v1/dicomweb/servers/",
        {
            "name": "vault",
            "base_url": "https://pacs.example/dw",
            "auth": "basic",
            "username": "svc",
            "secret": "hunter2-pass",
        },  # fmt: skip
        format="json",
    )
    assert reply.status_code == 201
    assert "hunter2-pass" not in reply.content.decode() and reply.data["secret_source"] == "stored"
    server = DicomWebServer.objects.get(name="vault")
    assert "hunter2" not in server.secret_token
    assert credentials.secret_of(server) == "hunter2-pass"
    listed = api.get("/api/v1/dicomweb/servers/").content.decode()
    assert "hunter2" not in listed and server.secret_token not in listed
    audit = api.get("/api/v1/audit/").content.decode()
    assert "hunter2" not in audit
    # From the environment instead: the stored one is dropped.
    api.patch(f"/api/v1/dicomweb/servers/{server.pk}/", {"secret_env": "PACS_PW"}, format="json")
    server.refresh_from_db()
    assert server.secret_token == "" and server.secret_source == "environment"


def test_bearer_and_missing_env_secret(world, monkeypatch):
    c = dicomweb.Client(world["server"])
    assert c.session.headers["Authorization"] == "Bearer s3cr3t-token"
    world["server"].secret_env = "ANNOTATOR_TEST_NO_SUCH_VAR"
    monkeypatch.delenv("ANNOTATOR_TEST_NO_SUCH_VAR", raising=False)
    with pytest.raises(Exception, match="ANNOTATOR_TEST_NO_SUCH_VAR"):
        dicomweb.Client(world["server"])


def _dicom(sop: str) -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", sop
    ds.BitsAllocated, ds.PixelRepresentation = 8, 0
    ds.PixelData = bytes(range(256)) * 40  # contains CR LF and dashes
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 20])
def test_multipart_is_split_into_files_whatever_the_chunking(tmp_path, chunk):
    parts = {generate_uid(): None for _ in range(3)}
    body = b"preamble\r\n"
    for sop in parts:
        parts[sop] = _dicom(sop)
        body += b"--b0und\r\nContent-Type: application/dicom\r\n\r\n" + parts[sop] + b"\r\n"
    body += b"--b0und--\r\n"
    sink = dicomweb._FolderSink(tmp_path, None)
    dicomweb.split_multipart(
        (body[i : i + chunk] for i in range(0, len(body), chunk)), b"b0und", sink
    )
    assert sink.count == 3
    for sop, data in parts.items():
        assert (tmp_path / f"{sop}.dcm").read_bytes() == data
    cut = tmp_path / "cut"
    cut.mkdir()
    with pytest.raises(dicomweb._Truncated):
        dicomweb.split_multipart(
            [body[: len(body) // 2]], b"b0und", dicomweb._FolderSink(cut, None)
        )


def test_bad_names_are_4xx_not_5xx(world, people, client_for):
    """Found by schemathesis on PostgreSQL: renaming a server to a taken name, and a link naming
    a server with a NUL character (PostgreSQL refuses NUL in a query)."""
    admin = client_for(people["admin"])
    spare = f"/api/v1/dicomweb/servers/{world['spare'].pk}/"
    taken = admin.patch(spare, {"name": "pacs"}, format="json")
    assert taken.status_code == 409 and taken.data["code"] == "duplicate"
    assert admin.patch(spare, {"name": "spare"}, format="json").status_code == 200  # its own
    links = f"/api/v1/projects/{world['project'].pk}/dicomweb/links/"
    nul = admin.post(links, {"server": "\u0000pacs", "send_to": True}, format="json")
    assert nul.status_code == 400 and "server" in nul.data
    members = f"/api/v1/projects/{world['project'].pk}/members/"
    nul = admin.post(members, {"username": "\u0000x", "role": "annotator"}, format="json")
    assert nul.status_code == 400 and "username" in nul.data
