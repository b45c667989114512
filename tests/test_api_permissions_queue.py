"""Who may change a project's queue order (issue #15 item 3): PATCH of the project, by role."""

import pytest

from annotator.audit.models import AuditEvent
from annotator.projects.models import Project
from tests.matrix import endpoint_by_role_test


@pytest.fixture
def world(project, other_project):
    return {"project": project}


P = {"annotator": 403, "annotator2": 403, "reviewer": 403, "manager": 200, "admin": 200,
     "outsider": 404, "anonymous": 401}  # fmt: skip
CASES = [
    ("set uncertainty order", "patch", lambda w: f"/api/v1/projects/{w['project'].pk}/",
     lambda w: {"queue_order": "uncertainty"}, "json", P),
    ("unknown order", "patch", lambda w: f"/api/v1/projects/{w['project'].pk}/",
     lambda w: {"queue_order": "random"}, "json",  # checked before the policy, as every field
     {**P, "annotator": 400, "annotator2": 400, "reviewer": 400, "manager": 400, "admin": 400}),
]  # fmt: skip

test_endpoint_by_role = endpoint_by_role_test(CASES)


def test_the_setting_is_shown_changed_and_audited(project, people, client_for):
    url = f"/api/v1/projects/{project.pk}/"
    assert client_for(people["annotator"]).get(url).data["queue_order"] == "import"
    response = client_for(people["manager"]).patch(
        url, {"queue_order": "uncertainty"}, format="json"
    )
    assert response.status_code == 200 and response.data["queue_order"] == "uncertainty"
    assert Project.objects.get(pk=project.pk).queue_order == "uncertainty"
    event = AuditEvent.objects.filter(action="project.update").latest("id")
    assert event.actor == people["manager"] and event.data["queue_order"] == [
        "import",
        "uncertainty",
    ]
    refused = client_for(people["annotator"]).patch(url, {"queue_order": "import"}, format="json")
    assert refused.status_code == 403
    assert Project.objects.get(pk=project.pk).queue_order == "uncertainty"
