import gzip

import nibabel as nib
import numpy as np
import pytest

from annotator.cases.models import CaseStatus
from tests import factories


def test_image_download_is_the_stored_nifti_with_its_geometry(project, people, client_for):
    array = np.arange(4 * 6 * 5, dtype=np.int16).reshape(4, 6, 5)
    case = factories.case(project, assignee=people["annotator"], array=array)
    response = client_for(people["annotator"]).get(f"/api/v1/cases/{case.pk}/image")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/gzip"
    assert response["ETag"] == f'"{case.image.checksum}"'
    img = nib.Nifti1Image.from_bytes(gzip.decompress(b"".join(response.streaming_content)))
    assert img.shape == (5, 6, 4)
    assert np.array_equal(np.asarray(img.dataobj).transpose(2, 1, 0), array)
    assert np.allclose(np.diag(img.affine)[:3], [-0.8, -0.8, 2.5])


def test_one_slice_of_the_image_keeps_its_values_and_world_position(project, people, client_for):
    array = np.random.default_rng(3).integers(-1000, 2000, (7, 6, 5), dtype=np.int16)
    case = factories.case(project, assignee=people["annotator"], array=array)
    whole = nib.Nifti1Image.from_bytes(
        gzip.decompress(b"".join(client_for(people["annotator"]).get(
            f"/api/v1/cases/{case.pk}/image").streaming_content))
    )  # fmt: skip
    for k in (0, 4, 6):
        response = client_for(people["annotator"]).get(f"/api/v1/cases/{case.pk}/image?slice={k}")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/gzip"
        img = nib.Nifti1Image.from_bytes(gzip.decompress(response.content))
        assert img.shape == (5, 6, 1)
        assert img.get_data_dtype() == np.int16
        assert np.array_equal(np.asarray(img.dataobj)[:, :, 0].T, array[k])
        # voxel (i, j, 0) of the slice is voxel (i, j, k) of the image, in world millimetres
        assert np.allclose(img.affine @ [2, 3, 0, 1], whole.affine @ [2, 3, k, 1])
        for form in (img.header.get_sform(coded=True), img.header.get_qform(coded=True)):
            if form[1]:  # each coded form moved with the slice
                assert np.allclose(form[0] @ [2, 3, 0, 1], whole.affine @ [2, 3, k, 1])


@pytest.mark.parametrize("value", ["7", "-1", "x", ""])
def test_slice_outside_the_image_or_not_a_number_is_400(project, people, client_for, value):
    case = factories.case(
        project, assignee=people["annotator"], array=np.zeros((7, 6, 5), np.int16)
    )
    response = client_for(people["annotator"]).get(f"/api/v1/cases/{case.pk}/image?slice={value}")
    assert response.status_code == 400


def test_slice_of_a_clip_is_refused_and_slices_follow_case_visibility(project, people, client_for):
    case = factories.case(project, assignee=people["annotator"])
    outsider = factories.user("not-a-member")
    assert client_for(outsider).get(f"/api/v1/cases/{case.pk}/image?slice=0").status_code == 404
    case.image.kind = "video"
    case.image.save()
    response = client_for(people["annotator"]).get(f"/api/v1/cases/{case.pk}/image?slice=0")
    assert response.status_code == 400


def test_case_detail_shape(project, people, client_for):
    case = factories.case(project, assignee=people["annotator"])
    factories.target(case)
    data = client_for(people["reviewer"]).get(f"/api/v1/cases/{case.pk}/").data
    assert data["study_id"] == case.study_id
    assert data["assignee"] == "annotator"
    assert data["target_count"] == 1
    assert data["image"]["shape"] == [32, 24, 8]
    assert data["image"]["kind"] == "volume"
    assert "patient" not in str(data).lower()


def test_filtering_ordering_and_pagination(project, people, client_for):
    for status in [CaseStatus.READY] * 3 + [CaseStatus.SUBMITTED] * 2:
        factories.case(project, status=status, assignee=people["annotator"])
    client = client_for(people["manager"])
    url = f"/api/v1/projects/{project.pk}/cases/"
    assert client.get(url, {"status": "submitted"}).data["count"] == 2
    assert client.get(url, {"status": ["submitted", "ready"]}).data["count"] == 5
    assert client.get(url, {"assignee": "annotator"}).data["count"] == 5
    assert client.get(url, {"assignee": "annotator2"}).data["count"] == 0
    page = client.get(url, {"page_size": 2, "ordering": "-created_at"}).data
    assert page["count"] == 5 and len(page["results"]) == 2 and page["next"]
    assert client.get(url, {"status": "nonsense"}).status_code == 400


def test_next_case_serves_the_queue_then_claims_then_204(project, people, client_for):
    a = people["annotator"]
    mine = factories.case(project, assignee=a, status=CaseStatus.READY)
    free = factories.case(project, status=CaseStatus.READY)
    client = client_for(a)
    assert client.post("/api/v1/cases/next/").data["id"] == mine.pk
    client.post(f"/api/v1/cases/{mine.pk}/start")
    factories.Assignment.objects.filter(case=mine).update(active=False)
    got = client.post("/api/v1/cases/next/", {"project": project.pk}, format="json").data
    assert got["id"] == free.pk and got["assignee"] == "annotator"
    factories.Assignment.objects.filter(case=free).update(active=False)
    factories.case(project, assignee=people["annotator2"], status=CaseStatus.READY)
    free.status = CaseStatus.SUBMITTED
    free.save()
    assert client.post("/api/v1/cases/next/").status_code == 204
    # A reviewer who annotates nothing has no queue.
    assert client_for(people["reviewer"]).post("/api/v1/cases/next/").status_code == 204


@pytest.mark.parametrize("payload", [{}, {"files": []}])
def test_empty_import_upload_is_a_clear_400(project, people, client_for, payload):
    response = client_for(people["manager"]).post(
        f"/api/v1/projects/{project.pk}/cases/", payload, format="multipart"
    )
    assert response.status_code == 400
    assert "empty upload" in response.data["detail"]


def test_workflow_through_the_api(project, people, client_for):
    case = factories.case(project, assignee=people["annotator"])
    annot, reviewer = client_for(people["annotator"]), client_for(people["reviewer"])
    t = annot.post(
        f"/api/v1/cases/{case.pk}/targets/",
        {"label": "lesion", "key_index": 3, "box": [2, 2, 10, 10]},
        format="json",
    ).data
    assert annot.post(f"/api/v1/cases/{case.pk}/start").data["status"] == "in_progress"
    upload = {
        "parent": "",
        "mask": factories.mask_file(factories.mask_nifti(case, factories.mask_for(case))),
    }
    assert (
        annot.post(f"/api/v1/targets/{t['id']}/revisions/", upload, format="multipart").status_code
        == 201
    )
    assert annot.post(f"/api/v1/cases/{case.pk}/submit").data["status"] == "submitted"
    rejected = reviewer.post(
        f"/api/v1/cases/{case.pk}/review",
        {"decision": "reject", "comment": "too small"},
        format="json",
    ).data
    assert rejected["status"] == "rejected"
    target = annot.get(f"/api/v1/targets/{t['id']}/").data
    assert target["review"]["comment"] == "too small" and target["review"]["current"] is True


def test_resubmitting_an_unchanged_rejected_case_is_a_clear_409(project, people, client_for):
    """The review deadlock: a rejected case sent back without correcting the rejected target."""
    case = factories.case(project, assignee=people["annotator"])
    annot, reviewer = client_for(people["annotator"]), client_for(people["reviewer"])
    t = annot.post(
        f"/api/v1/cases/{case.pk}/targets/",
        {"label": "lesion", "key_index": 3, "box": [2, 2, 10, 10]},
        format="json",
    ).data
    mask = factories.mask_nifti(case, factories.mask_for(case))
    annot.post(f"/api/v1/cases/{case.pk}/start")
    first = annot.post(
        f"/api/v1/targets/{t['id']}/revisions/",
        {"parent": "", "mask": factories.mask_file(mask)},
        format="multipart",
    ).data
    annot.post(f"/api/v1/cases/{case.pk}/submit")
    reviewer.post(
        f"/api/v1/cases/{case.pk}/review", {"decision": "reject", "comment": "too small"},
        format="json",
    )  # fmt: skip
    assert annot.post(f"/api/v1/cases/{case.pk}/start").data["status"] == "in_progress"
    refused = annot.post(f"/api/v1/cases/{case.pk}/submit")
    assert refused.status_code == 409
    assert refused.data["code"] == "rejected_unchanged" and "too small" in refused.data["detail"]
    assert annot.get(f"/api/v1/cases/{case.pk}/").data["status"] == "in_progress"
    annot.post(
        f"/api/v1/targets/{t['id']}/revisions/",
        {"parent": first["id"], "mask": factories.mask_file(mask)},
        format="multipart",
    )
    assert annot.post(f"/api/v1/cases/{case.pk}/submit").data["status"] == "submitted"
    accepted = reviewer.post(
        f"/api/v1/cases/{case.pk}/review", {"decision": "accept"}, format="json"
    )
    assert accepted.data["status"] == "accepted"
