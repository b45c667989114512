"""The authorization matrix, continued: pre-segmentation, models, rounds, metrics, exports and
audit × every role and a user of another project. Plus a check that every /api/v1/ route is
covered by one of the two matrices."""

from types import SimpleNamespace

import pytest
from django.urls import get_resolver, resolve

from annotator.annotations.models import PresegmentJob
from annotator.cases.models import CaseStatus
from annotator.metrics.models import Export
from annotator.modelops import rounds
from tests import factories
from tests.matrix import endpoint_by_role_test
from tests.modelops.helpers import blob_case
from tests.pacs.test_api_dicomweb import CASES as DICOMWEB
from tests.test_api_permissions import CASES as FOUNDATION

V = {"annotator": 200, "reviewer": 200, "manager": 200, "admin": 200, "annotator2": 404,
     "outsider": 404, "anonymous": 401}  # fmt: skip
P = {**V, "annotator2": 200}  # every member of the project
ADMIN_ONLY = {"annotator": 403, "annotator2": 403, "reviewer": 403, "manager": 403,
              "outsider": 403, "anonymous": 401}  # fmt: skip
MANAGERS = {"annotator": 403, "annotator2": 403, "reviewer": 403, "manager": 200, "admin": 200,
            "outsider": 404, "anonymous": 401}  # fmt: skip


@pytest.fixture
def world(project, other_project, people, tmp_path):
    model = factories.tiny_model_version(tmp_path, project=project)
    case = factories.case(project, assignee=people["annotator"], status=CaseStatus.IN_PROGRESS)
    target = factories.target(case)
    job = PresegmentJob.objects.create(target=target, case=case, status="done", model_version=model)
    for seed in range(3):
        blob_case(project, people["annotator"], people["reviewer"], seed=seed)
    round_ = rounds.start_round(project)
    export = Export.objects.create(project=project, scope="project", format="manifest")
    return {"project": project, "case": case, "target": target, "job": job, "model": model,
            "round": round_, "export": export}  # fmt: skip


CASES = [
    ("presegment", "post", lambda w: f"/api/v1/targets/{w['target'].pk}/presegment",
     lambda w: {}, "json", {**V, "annotator": 202, "admin": 202, "reviewer": 403,
                            "manager": 403}),
    ("case jobs", "get", lambda w: f"/api/v1/cases/{w['case'].pk}/jobs/", None, None, V),
    ("job", "get", lambda w: f"/api/v1/jobs/{w['job'].pk}/", None, None, V),
    ("models", "get", lambda w: "/api/v1/models/", None, None, {**P, "outsider": 200}),
    ("import model", "post", lambda w: "/api/v1/models/", lambda w: {}, "multipart",
     {**ADMIN_ONLY, "admin": 400}),
    ("model", "get", lambda w: f"/api/v1/models/{w['model'].pk}/", None, None, P),
    ("promote model", "post", lambda w: f"/api/v1/models/{w['model'].pk}/promote", None, "json",
     {**ADMIN_ONLY, "admin": 200}),
    ("rollback", "post", lambda w: f"/api/v1/models/rollback?project={w['project'].pk}", None,
     "json", {**ADMIN_ONLY, "admin": 409}),
    ("rounds", "get", lambda w: "/api/v1/training-rounds/", None, None, {**P, "outsider": 200}),
    ("start round", "post", lambda w: "/api/v1/training-rounds/",
     lambda w: {"project": w["project"].pk}, "json", {**ADMIN_ONLY, "admin": 409}),
    ("round", "get", lambda w: f"/api/v1/training-rounds/{w['round'].pk}/", None, None, P),
    ("cancel round", "post", lambda w: f"/api/v1/training-rounds/{w['round'].pk}/cancel", None,
     "json", {**ADMIN_ONLY, "admin": 200}),
    ("promote round", "post", lambda w: f"/api/v1/training-rounds/{w['round'].pk}/promote", None,
     "json", {**ADMIN_ONLY, "admin": 409}),
    ("round policy", "get", lambda w: f"/api/v1/projects/{w['project'].pk}/round-policy", None,
     None, P),
    ("set round policy", "put", lambda w: f"/api/v1/projects/{w['project'].pk}/round-policy",
     lambda w: {"steps": 20}, "json", {**ADMIN_ONLY, "admin": 200}),
    ("metrics", "get", lambda w: f"/api/v1/projects/{w['project'].pk}/metrics", None, None,
     MANAGERS),
    ("metrics csv", "get", lambda w: f"/api/v1/projects/{w['project'].pk}/metrics.csv", None,
     None, MANAGERS),
    ("target metrics", "get", lambda w: f"/api/v1/projects/{w['project'].pk}/metrics/targets",
     None, None, MANAGERS),
    ("target metrics csv", "get",
     lambda w: f"/api/v1/projects/{w['project'].pk}/metrics/targets.csv", None, None, MANAGERS),
    ("case metrics", "get", lambda w: f"/api/v1/projects/{w['project'].pk}/metrics/cases",
     None, None, MANAGERS),
    ("case metrics csv", "get",
     lambda w: f"/api/v1/projects/{w['project'].pk}/metrics/cases.csv", None, None, MANAGERS),
    ("request export", "post", lambda w: "/api/v1/exports/",
     lambda w: {"project": w["project"].pk, "scope": "project", "format": "manifest"}, "json",
     {**MANAGERS, "manager": 201, "admin": 201}),
    ("exports", "get", lambda w: "/api/v1/exports/", None, None,
     {**MANAGERS, "annotator": 200, "annotator2": 200, "reviewer": 200, "outsider": 200}),
    ("export", "get", lambda w: f"/api/v1/exports/{w['export'].pk}/", None, None, MANAGERS),
    ("export download", "get", lambda w: f"/api/v1/exports/{w['export'].pk}/download", None,
     None, {**MANAGERS, "manager": 409, "admin": 409}),
    ("audit", "get", lambda w: "/api/v1/audit/", None, None, {**ADMIN_ONLY, "admin": 200}),
]  # fmt: skip


test_endpoint_by_role = endpoint_by_role_test(CASES)


def test_lists_hide_other_projects_objects(world, people, client_for):
    outsider = client_for(people["outsider"])
    assert outsider.get("/api/v1/training-rounds/").data["results"] == []
    assert outsider.get("/api/v1/exports/").data["results"] == []
    models = outsider.get("/api/v1/models/").data["results"]
    assert all(m["project"] != world["project"].slug for m in models)


def test_every_api_route_is_in_a_matrix(world, db):
    from tests.test_api_permissions import world as _  # noqa: F401  (documents the pairing)

    def names(patterns, prefix=""):
        for p in patterns:
            if hasattr(p, "url_patterns"):
                yield from names(p.url_patterns, prefix + str(p.pattern))
            elif (prefix + str(p.pattern)).startswith("api/v1/"):
                yield p.name

    routes = set(names(get_resolver().url_patterns))
    exempt = {"schema", "api-docs", "api-redoc", "auth-token", "me", "project-member"}
    covered = {resolve(c[2](world).split("?")[0]).url_name for c in CASES}
    foundation = {
        "project-list", "project-detail", "project-members", "project-cases", "case-detail",
        "case-image", "case-targets", "target-detail", "target-revisions", "case-assign",
        "case-start", "case-submit", "case-review", "target-review", "target-mask",
        "case-reopen", "case-next", "revision-detail", "revision-mask",
    }  # fmt: skip
    # The foundation matrix's URLs need its own fixture; its routes are listed here by name,
    # and this assertion fails when the list and that matrix drift apart.
    assert len(FOUNDATION) >= 20
    # The DICOMweb matrix (tests/pacs) has its own world; its URLs only need ids to resolve.
    any_ids = type("AnyIds", (dict,), {"__missing__": lambda self, key: SimpleNamespace(pk=1)})()
    dicomweb = {resolve(c[2](any_ids).split("?")[0]).url_name for c in DICOMWEB}
    missing = routes - covered - foundation - dicomweb - exempt
    assert missing == set(), f"routes without an authorization matrix entry: {missing}"
