"""Managing targets (issue #16 item 4): rename, relabel, note and delete × every role; a target
on a submitted case cannot be changed or deleted by anyone."""

import pytest

from annotator.cases.models import CaseStatus
from tests import factories
from tests.matrix import endpoint_by_role_test


@pytest.fixture
def world(project, other_project, people):
    from annotator.annotations import services, workflow

    case = factories.case(project, assignee=people["annotator"], status=CaseStatus.IN_PROGRESS)
    target = factories.target(case)
    submitted = factories.case(project, assignee=people["annotator"], status=CaseStatus.IN_PROGRESS)
    st = factories.target(submitted)
    services.save_human_revision(
        st,
        actor=people["annotator"],
        data=factories.mask_nifti(submitted, factories.mask_for(submitted)),
        parent_id=None,
    )
    workflow.submit(submitted, actor=people["annotator"])
    return {"case": case, "target": target, "submitted": submitted, "st": st}


V = {"annotator": 200, "reviewer": 200, "manager": 200, "admin": 200, "annotator2": 404,
     "outsider": 404, "anonymous": 401}  # fmt: skip
CHANGE = {**V, "reviewer": 403}  # the assignee, managers, admins
LOCKED = {**V, "annotator": 409, "manager": 409, "admin": 409, "reviewer": 403}
CASES = [
    ("rename", "patch", lambda w: f"/api/v1/targets/{w['target'].pk}/",
     lambda w: {"name": "segment VII"}, "json", CHANGE),
    ("relabel", "patch", lambda w: f"/api/v1/targets/{w['target'].pk}/",
     lambda w: {"label": "cyst"}, "json", CHANGE),
    ("relabel to an unknown label", "patch", lambda w: f"/api/v1/targets/{w['target'].pk}/",
     lambda w: {"label": "spleen"}, "json", {**CHANGE, "annotator": 400, "manager": 400,
                                             "admin": 400}),
    ("note to the reviewer", "patch", lambda w: f"/api/v1/targets/{w['target'].pk}/",
     lambda w: {"note": "margin unclear on slices 40-42"}, "json", CHANGE),
    ("delete", "delete", lambda w: f"/api/v1/targets/{w['target'].pk}/", None, None,
     {**CHANGE, "annotator": 204, "manager": 204, "admin": 204}),
    ("rename on a submitted case", "patch", lambda w: f"/api/v1/targets/{w['st'].pk}/",
     lambda w: {"name": "x"}, "json", LOCKED),
    ("delete on a submitted case", "delete", lambda w: f"/api/v1/targets/{w['st'].pk}/", None,
     None, LOCKED),
    ("revisions with their numbers", "get", lambda w: f"/api/v1/targets/{w['st'].pk}/revisions/",
     None, None, V),
]  # fmt: skip


test_endpoint_by_role = endpoint_by_role_test(CASES)
