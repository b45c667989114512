"""Audit trail: admin API with filters, sign-ins recorded, append-only (model and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client

from annotator.audit.models import AuditEvent
from annotator.audit.services import record
from annotator.projects.models import Project
from tests import factories

URL = "/api/v1/audit/"


@pytest.fixture
def events(project, people, other_project):
    case = factories.case(project)
    return [
        record("import", actor=people["manager"], project=project, cases=1),
        record("case.assign", actor=people["manager"], obj=case, project=project),
        record("case.status", actor=people["annotator"], obj=case, project=project, to="x"),
        record("review", actor=people["reviewer"], obj=case, project=project),
        record("import", actor=people["outsider"], project=other_project),
        record("export.done", actor_label="export", project=project),
    ]


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {e["id"] for e in response.json()["results"]}


def test_only_admins_read_the_trail(events, people, client_for):
    body = client_for(people["admin"]).get(URL).json()
    assert body["count"] >= len(events)
    newest = body["results"][0]
    assert {"created_at", "actor", "action", "project", "object_type", "object_id", "data"} <= set(
        newest
    )
    for role in ("manager", "annotator", "reviewer", "outsider"):
        assert client_for(people[role]).get(URL).status_code == 403
    assert client_for().get(URL).status_code == 401


def test_filters(events, people, client_for, project, other_project):
    admin = client_for(people["admin"])
    imp, assign, status, review, other, export = events
    assert ids(admin.get(URL, {"action": "import"})) == {imp.pk, other.pk}
    assert ids(admin.get(URL, {"action": "case.*"})) == {assign.pk, status.pk}
    assert ids(admin.get(URL, {"actor": "reviewer"})) == {review.pk}
    assert ids(admin.get(URL, {"actor_id": people["outsider"].pk})) == {other.pk}
    assert ids(admin.get(URL, {"actor_label": "export"})) == {export.pk}
    assert ids(admin.get(URL, {"project": other_project.pk})) == {other.pk}
    by_object = admin.get(URL, {"object_type": "cases.case", "object_id": assign.object_id})
    assert {assign.pk, status.pk, review.pk} <= ids(by_object)
    today = dt.date.today().isoformat()
    assert imp.pk in ids(admin.get(URL, {"since": today, "until": today}))
    assert ids(admin.get(URL, {"until": "2000-01-01"})) == set()
    later = (imp.created_at + dt.timedelta(hours=1)).isoformat()
    assert ids(admin.get(URL, {"since": later})) == set()
    assert admin.get(URL, {"since": "last week"}).status_code == 400
    paged = admin.get(URL, {"page_size": 2}).json()
    assert len(paged["results"]) == 2 and paged["next"]


def test_sign_ins_are_recorded(people):
    client = Client()
    assert client.login(username="annotator", password=factories.PASSWORD)
    login = AuditEvent.objects.filter(action="auth.login").latest("id")
    assert login.actor == people["annotator"]
    assert not client.login(username="annotator", password="wrong")
    failed = AuditEvent.objects.filter(action="auth.login_failed").latest("id")
    assert failed.actor is None and failed.data["username"] == "annotator"
    assert "wrong" not in str(failed.data)
    client.logout()
    assert AuditEvent.objects.filter(action="auth.logout", actor=people["annotator"]).exists()


def test_admin_login_page_records_the_sign_in(people):
    client = Client()
    response = client.post(
        "/admin/login/", {"username": "admin", "password": factories.PASSWORD, "next": "/admin/"}
    )
    assert response.status_code == 302
    event = AuditEvent.objects.filter(action="auth.login").latest("id")
    assert event.actor == people["admin"] and event.data["ip"] == "127.0.0.1"


def test_events_cannot_be_changed_or_deleted_through_the_model(events):
    event = events[0]
    event.action = "tampered"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
def test_postgresql_refuses_update_and_delete(events, project):
    event = events[0]
    for sql, params in (
        ("UPDATE audit_auditevent SET action = %s WHERE id = %s", ["tampered", event.pk]),
        ("UPDATE audit_auditevent SET data = '{}'::jsonb WHERE id = %s", [event.pk]),
        ("UPDATE audit_auditevent SET actor_id = NULL, action = 'x' WHERE id = %s", [event.pk]),
        ("DELETE FROM audit_auditevent WHERE id = %s", [event.pk]),
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, params)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="bulk")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    # Deleting a project only clears the link (on_delete=SET_NULL): the events stay.
    Project.objects.filter(pk=project.pk).delete()
    kept = AuditEvent.objects.get(pk=event.pk)
    assert kept.project_id is None and kept.action == "import" and kept.data == {"cases": 1}
