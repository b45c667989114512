"""Every foundation endpoint × every role, including users of another project and anonymous."""

import pytest

from annotator.cases.models import CaseStatus
from tests import factories
from tests.matrix import endpoint_by_role_test


@pytest.fixture
def world(project, other_project, people):
    case = factories.case(project, assignee=people["annotator"], status=CaseStatus.IN_PROGRESS)
    target = factories.target(case)
    submitted = factories.case(project, assignee=people["annotator"], status=CaseStatus.IN_PROGRESS)
    st = factories.target(submitted)
    from annotator.annotations import services, workflow

    services.save_human_revision(
        st,
        actor=people["annotator"],
        data=factories.mask_nifti(submitted, factories.mask_for(submitted)),
        parent_id=None,
    )
    workflow.submit(submitted, actor=people["annotator"])
    return {"project": project, "case": case, "target": target, "submitted": submitted, "st": st}


def mask_upload(w):
    case = w["case"]
    return {
        "parent": "",
        "mask": factories.mask_file(factories.mask_nifti(case, factories.mask_for(case))),
    }


# (name, method, url builder, payload builder, format, {role: expected status})
V = {"annotator": 200, "reviewer": 200, "manager": 200, "admin": 200, "annotator2": 404,
     "outsider": 404, "anonymous": 401}  # fmt: skip
P = {**V, "annotator2": 200}  # project-level reads: every member
CASES = [
    ("project list", "get", lambda w: "/api/v1/projects/", None, None, {**P, "outsider": 200}),
    ("project detail", "get", lambda w: f"/api/v1/projects/{w['project'].pk}/", None, None, P),
    ("project update", "patch", lambda w: f"/api/v1/projects/{w['project'].pk}/",
     lambda w: {"manual_seconds_per_target": 300}, "json",
     {**P, "annotator": 403, "annotator2": 403, "reviewer": 403}),
    ("members", "get", lambda w: f"/api/v1/projects/{w['project'].pk}/members/", None, None, P),
    ("add member", "post", lambda w: f"/api/v1/projects/{w['project'].pk}/members/",
     lambda w: {"username": "outsider", "role": "reviewer"}, "json",
     {**P, "annotator": 403, "annotator2": 403, "reviewer": 403, "manager": 201, "admin": 201}),
    ("case list", "get", lambda w: f"/api/v1/projects/{w['project'].pk}/cases/", None, None, P),
    ("case detail", "get", lambda w: f"/api/v1/cases/{w['case'].pk}/", None, None, V),
    ("case image", "get", lambda w: f"/api/v1/cases/{w['case'].pk}/image", None, None, V),
    ("targets", "get", lambda w: f"/api/v1/cases/{w['case'].pk}/targets/", None, None, V),
    ("add target", "post", lambda w: f"/api/v1/cases/{w['case'].pk}/targets/",
     lambda w: {"label": "lesion", "key_index": 1, "box": [1, 1, 5, 5]}, "json",
     {**V, "annotator": 201, "manager": 201, "admin": 201, "reviewer": 403}),
    ("target detail", "get", lambda w: f"/api/v1/targets/{w['target'].pk}/", None, None, V),
    ("revisions", "get", lambda w: f"/api/v1/targets/{w['target'].pk}/revisions/", None, None, V),
    ("save revision", "post", lambda w: f"/api/v1/targets/{w['target'].pk}/revisions/",
     mask_upload, "multipart", {**V, "annotator": 201, "admin": 201, "reviewer": 403,
                                "manager": 403}),
    ("assign", "post", lambda w: f"/api/v1/cases/{w['case'].pk}/assign",
     lambda w: {"annotator": "annotator2"}, "json",
     {**V, "annotator": 403, "reviewer": 403}),
    ("start", "post", lambda w: f"/api/v1/cases/{w['case'].pk}/start", None, "json",
     {**V, "reviewer": 403, "manager": 403}),
    ("submit", "post", lambda w: f"/api/v1/cases/{w['submitted'].pk}/submit", None, "json",
     {**V, "annotator": 409, "admin": 409, "reviewer": 403, "manager": 403}),
    ("review case", "post", lambda w: f"/api/v1/cases/{w['submitted'].pk}/review",
     lambda w: {"decision": "accept"}, "json", {**V, "annotator": 403, "manager": 403}),
    ("review target", "post", lambda w: f"/api/v1/targets/{w['st'].pk}/review",
     lambda w: {"decision": "accept"}, "json",
     {**V, "annotator": 403, "reviewer": 201, "manager": 403, "admin": 201}),
    ("head mask", "get", lambda w: f"/api/v1/targets/{w['st'].pk}/mask", None, None, V),
    ("reopen", "post", lambda w: f"/api/v1/cases/{w['case'].pk}/reopen", None, "json",
     {**V, "annotator": 403, "reviewer": 403, "manager": 409, "admin": 409}),
]  # fmt: skip


test_endpoint_by_role = endpoint_by_role_test(CASES)


def test_lists_hold_only_what_the_user_may_see(world, people, client_for):
    url = f"/api/v1/projects/{world['project'].pk}/cases/"
    seen = {
        role: {c["id"] for c in client_for(people[role]).get(url).data["results"]}
        for role in ("annotator", "annotator2", "reviewer", "manager")
    }
    everything = {world["case"].pk, world["submitted"].pk}
    assert seen == {
        "annotator": everything,
        "annotator2": set(),
        "reviewer": everything,
        "manager": everything,
    }
    outsider_projects = client_for(people["outsider"]).get("/api/v1/projects/").data["results"]
    assert [p["slug"] for p in outsider_projects] == ["other"]
