import pytest
from rest_framework.authtoken.models import Token

from annotator.audit.models import AuditEvent
from annotator.projects.models import Project
from tests import factories

NEW = {
    "name": "Echo",
    "slug": "echo",
    "kind": "video",
    "modality": "US",
    "labels": [{"name": "LV", "color": "#ff8800"}],
    "manual_seconds_per_target": 240,
}


def test_only_admins_create_projects(people, client_for):
    assert (
        client_for(people["manager"]).post("/api/v1/projects/", NEW, format="json").status_code
        == 403
    )
    response = client_for(people["admin"]).post("/api/v1/projects/", NEW, format="json")
    assert response.status_code == 201
    assert Project.objects.get(slug="echo").kind == "video"
    assert AuditEvent.objects.filter(action="project.create").exists()


@pytest.mark.parametrize(
    "labels",
    [[], [{"name": "a", "color": "red"}], [{"name": "a", "color": "#ff0000"}] * 2, "lesion"],
    ids=["empty", "bad-colour", "duplicate", "not-a-list"],
)
def test_label_validation(people, client_for, labels):
    response = client_for(people["admin"]).post(
        "/api/v1/projects/", {**NEW, "labels": labels}, format="json"
    )
    assert response.status_code == 400 and "labels" in response.data


def test_my_roles_and_me(project, people, client_for):
    factories.Membership.objects.create(project=project, user=people["annotator"], role="reviewer")
    detail = client_for(people["annotator"]).get(f"/api/v1/projects/{project.pk}/").data
    assert detail["my_roles"] == ["annotator", "reviewer"]
    me = client_for(people["annotator"]).get("/api/v1/me/").data
    assert me["username"] == "annotator" and me["projects"][0]["roles"] == ["annotator", "reviewer"]


def test_member_management(project, people, client_for):
    manager = client_for(people["manager"])
    added = manager.post(
        f"/api/v1/projects/{project.pk}/members/",
        {"username": "outsider", "role": "annotator"},
        format="json",
    )
    assert added.status_code == 201
    assert (
        manager.post(
            f"/api/v1/projects/{project.pk}/members/",
            {"username": "nobody", "role": "annotator"},
            format="json",
        ).status_code
        == 400
    )
    assert (
        manager.post(
            f"/api/v1/projects/{project.pk}/members/",
            {"username": "outsider", "role": "boss"},
            format="json",
        ).status_code
        == 400
    )
    mid = added.data["id"]
    assert (
        client_for(people["annotator"])
        .delete(f"/api/v1/projects/{project.pk}/members/{mid}/")
        .status_code
        == 403
    )
    assert manager.delete(f"/api/v1/projects/{project.pk}/members/{mid}/").status_code == 204
    assert AuditEvent.objects.filter(action="membership.remove").exists()


def test_token_obtain_use_and_revoke(project, people, client):
    bad = client.post("/api/v1/auth/token/", {"username": "annotator", "password": "nope"})
    assert bad.status_code == 400
    token = client.post(
        "/api/v1/auth/token/", {"username": "annotator", "password": factories.PASSWORD}
    ).json()["token"]
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    assert client.get("/api/v1/projects/", **auth).status_code == 200
    assert client.delete("/api/v1/auth/token/", **auth).status_code == 204
    assert not Token.objects.filter(key=token).exists()
    assert client.get("/api/v1/projects/", **auth).status_code == 401


def test_anonymous_gets_401_with_challenge(db, client):
    response = client.get("/api/v1/projects/")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Token")


def test_schema_and_docs(db, client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in (
        "/api/v1/cases/{id}/image",
        "/api/v1/targets/{id}/revisions/",
        "/api/v1/cases/next/",
    ):
        assert path in paths
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()


def test_openapi_schema_generates_without_warnings(db):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


@pytest.mark.parametrize("body", [["a", "b"], "text", {"username": ["x"]}])
def test_token_endpoint_refuses_odd_bodies_with_400(db, client, body):
    response = client.post("/api/v1/auth/token/", body, content_type="application/json")
    assert response.status_code == 400
