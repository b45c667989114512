"""The export job API: background path with progress, download and audit, the inline path for
small exports, permissions and bad requests, a failed export."""

from __future__ import annotations

import io
import json
import zipfile

from django.core.files.storage import default_storage

from annotator.audit.models import AuditEvent
from annotator.metrics.exports import service
from annotator.metrics.models import Export
from tests import factories
from tests.metrics.conftest import box_mask

from .conftest import accept_targets


def test_export_api_background_progress_download_and_audit(
    project, people, client_for, monkeypatch, django_capture_on_commit_callbacks
):
    case = factories.case(project)
    accept_targets(project, people, case, [box_mask(case)])
    monkeypatch.setattr(service, "INLINE_MAX_VOXELS", 0)  # force the Celery path (eager here)
    client = client_for(people["manager"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/exports/", {"project": project.pk, "scope": "project", "format": "nifti"}
        )
    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "queued"
    detail = client.get(f"/api/v1/exports/{response.json()['id']}/").json()
    assert detail["status"] == "done" and detail["progress"] == 1.0
    assert detail["done"] == detail["total"] == 1 and detail["size_bytes"] > 0
    download = client.get(detail["download"])
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content))).namelist()
    assert "manifest.csv" in names and f"{case.study_id}/labels.nii.gz" in names
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"export.request", "export.done", "export.download"} <= actions
    listed = client.get("/api/v1/exports/", {"project": project.pk}).json()
    assert [e["id"] for e in listed["results"]] == [detail["id"]]


def test_small_export_is_done_inline(project, people, client_for):
    case = factories.case(project)
    accept_targets(project, people, case, [box_mask(case)])
    response = client_for(people["manager"]).post(
        "/api/v1/exports/",
        {"project": project.pk, "scope": "case", "case": case.pk, "format": "npz"},
    )
    assert response.status_code == 201 and response.json()["status"] == "done"
    assert response.json()["download"].endswith(f"/api/v1/exports/{response.json()['id']}/download")


def test_export_permissions_and_bad_requests(project, other_project, people, client_for):
    case = factories.case(project)
    body = {"project": project.pk, "scope": "case", "case": case.pk, "format": "manifest"}
    manager = client_for(people["manager"])
    created = manager.post("/api/v1/exports/", body).json()
    for role in ("annotator", "reviewer"):
        client = client_for(people[role])
        assert client.post("/api/v1/exports/", body).status_code == 403
        assert client.get(f"/api/v1/exports/{created['id']}/").status_code == 403
        assert client.get(f"/api/v1/exports/{created['id']}/download").status_code == 403
        assert client.get("/api/v1/exports/").json()["count"] == 0
    outsider = client_for(people["outsider"])
    assert outsider.post("/api/v1/exports/", body).status_code == 404
    assert outsider.get(f"/api/v1/exports/{created['id']}/").status_code == 404
    assert client_for(people["admin"]).get(f"/api/v1/exports/{created['id']}/").status_code == 200
    assert client_for().get("/api/v1/exports/").status_code == 401
    bad = [
        ({**body, "case": None}, "needs a case"),
        ({**body, "scope": "project"}, "only a case export"),
        ({**body, "case": 999999}, "no case"),
        ({**body, "scope": "round", "case": None}, "model_version"),
        ({**body, "options": {"colour": 1}}, "unknown export options"),
        ({**body, "options": {"window": [40, 0]}}, "width"),
        ({**body, "options": {"window": "sunset"}}, "unknown CT window"),
        ({**body, "format": "png"}, "format"),
    ]
    for payload, message in bad:
        response = manager.post("/api/v1/exports/", payload)
        assert response.status_code == 400, (payload, response.json())
        assert message in json.dumps(response.json()), (message, response.json())
    other_case = factories.case(other_project)
    foreign = manager.post("/api/v1/exports/", {**body, "case": other_case.pk})
    assert foreign.status_code == 400


def test_failed_export_reports_why_and_cannot_be_downloaded(project, people, client_for):
    case = factories.case(project)
    (t,) = accept_targets(project, people, case, [box_mask(case)])
    default_storage.delete(type(t).objects.get(pk=t.pk).head.file.name)  # a lost mask file
    result = service.request_export(
        actor=people["manager"], project=project, scope="case", fmt="nifti", case=case
    )
    assert result.status == "failed" and "FileNotFoundError" in result.message
    response = client_for(people["manager"]).get(f"/api/v1/exports/{result.pk}/download")
    assert response.status_code == 409 and response.json()["code"] == "export_not_ready"
    assert Export.objects.get(pk=result.pk).file.name in ("", None)
