import gzip

import numpy as np
import pytest

from annotator.annotations.models import MaskRevision
from tests import factories


@pytest.fixture
def ctx(project, people, client_for):
    case = factories.case(project, assignee=people["annotator"])
    return case, factories.target(case), client_for(people["annotator"])


def post_mask(client, target, case, parent, mask=None, **extra):
    mask = factories.mask_for(case) if mask is None else mask
    data = {
        "parent": "" if parent is None else parent,
        "mask": factories.mask_file(factories.mask_nifti(case, mask)),
    }
    data.update(extra.pop("data", {}))
    return client.post(f"/api/v1/targets/{target.pk}/revisions/", data, format="multipart", **extra)


def test_stale_parent_is_409_naming_the_current_revision(ctx):
    case, target, client = ctx
    r1 = post_mask(client, target, case, None).data
    r2 = post_mask(client, target, case, r1["id"]).data
    stale = post_mask(client, target, case, r1["id"])
    assert stale.status_code == 409
    assert stale.data["code"] == "stale_parent" and stale.data["current_revision"] == r2["id"]
    listing = client.get(f"/api/v1/targets/{target.pk}/revisions/").data["results"]
    assert [r["id"] for r in listing] == [r1["id"], r2["id"]]
    assert listing[1]["parent"] == r1["id"]


def test_idempotency_key_header(ctx):
    case, target, client = ctx
    first = post_mask(client, target, case, None, HTTP_IDEMPOTENCY_KEY="abc-1")
    retry = post_mask(client, target, case, None, HTTP_IDEMPOTENCY_KEY="abc-1")
    assert (first.status_code, retry.status_code) == (201, 200)
    assert first.data["id"] == retry.data["id"]
    assert MaskRevision.objects.count() == 1


def test_raw_upload_and_download_round_trip(ctx):
    case, target, client = ctx
    nx, ny, nz = case.image.shape
    m = factories.mask_for(case)
    f = factories.mask_file(gzip.compress(m.tobytes()), "mask.raw.gz")
    response = client.post(
        f"/api/v1/targets/{target.pk}/revisions/",
        {"parent": "", "mask": f, "shape": f"{nx},{ny},{nz}", "active_seconds": "4.5"},
        format="multipart",
    )
    assert response.status_code == 201, response.data
    assert response.data["voxel_count"] == int(m.sum()) and response.data["active_seconds"] == 4.5
    from annotator.annotations.masks import decode_stored

    body = b"".join(client.get(f"/api/v1/targets/{target.pk}/mask").streaming_content)
    assert np.array_equal(decode_stored(body), m)
    rid = response.data["id"]
    body2 = b"".join(
        client.get(f"/api/v1/targets/{target.pk}/revisions/{rid}/mask").streaming_content
    )
    assert body2 == body


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "parent"),
        ({"parent": ""}, "mask"),
        ({"parent": "", "shape": "1,2"}, "shape"),
        ({"parent": "", "active_seconds": "-3"}, "active_seconds"),
    ],
)
def test_malformed_requests_are_400(ctx, data, field):
    case, target, client = ctx
    payload = dict(data)
    if field != "mask":  # every other case sends a valid mask
        payload["mask"] = factories.mask_file(factories.mask_nifti(case, factories.mask_for(case)))
    response = client.post(f"/api/v1/targets/{target.pk}/revisions/", payload, format="multipart")
    assert response.status_code == 400
    assert field in response.data


def test_mask_for_target_without_revision_is_404(ctx):
    case, target, client = ctx
    assert client.get(f"/api/v1/targets/{target.pk}/mask").status_code == 404


def test_bad_mask_is_400_with_reason(ctx):
    case, target, client = ctx
    wrong = np.zeros((2, 2, 2), np.uint8)
    response = post_mask(client, target, case, None, mask=wrong)
    assert response.status_code == 400 and "shape" in response.data["detail"]


def test_store_write_error_is_503_and_the_previous_revision_stays(ctx, monkeypatch):
    import errno

    from annotator.core import storage

    case, target, client = ctx
    first = post_mask(client, target, case, None).data

    def read_only(self, name, content):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(storage.AtomicFileSystemStorage, "_save", read_only)
    response = post_mask(client, target, case, first["id"])
    assert response.status_code == 503
    assert response.data["code"] == "store_unavailable" and "EROFS" in response.data["detail"]
    monkeypatch.undo()
    assert client.get(f"/api/v1/targets/{target.pk}/").data["head"] == first["id"]
    assert client.get(f"/api/v1/targets/{target.pk}/mask").status_code == 200
    assert post_mask(client, target, case, first["id"]).status_code == 201


def test_database_outage_is_503_with_a_clear_body(ctx, monkeypatch):
    from django.db import OperationalError

    from annotator.annotations import services

    case, target, client = ctx

    def down(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(services, "save_human_revision", down)
    response = post_mask(client, target, case, None)
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert "briefly unavailable" in response.data["detail"]
