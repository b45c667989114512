"""Bad input is answered 4xx (or the page's own message), never 5xx; weak round policies are
refused (issue #17, 7). Each request here raised a server error before."""

from __future__ import annotations

import pytest
from django.test import Client

from annotator.annotations.models import Assignment
from annotator.audit.services import record
from tests import factories


@pytest.fixture
def browser():
    def make(user) -> Client:
        client = Client(raise_request_exception=False)
        client.force_login(user)
        return client

    return make


@pytest.mark.parametrize("suffix", ["", ".csv", "/targets", "/cases.csv"])
def test_metrics_refuse_a_non_ascii_digit_annotator(project, people, client_for, suffix):
    client = client_for(people["manager"])
    url = f"/api/v1/projects/{project.pk}/metrics{suffix}"
    for bad in ("²", "٣٣" * 20, "1" * 40, "-1"):
        assert client.get(url, {"annotator": bad}).status_code == 400, bad
    assert client.get(url, {"annotator": str(people["annotator"].pk)}).status_code == 200


@pytest.mark.parametrize(
    "query, status",
    [
        ({"until": "9999-12-31"}, 200),  # the day after is out of range: no upper bound
        ({"since": "0001-01-01"}, 200),
        # PostgreSQL takes offsets up to 15:59 only: the moment goes to it in UTC.
        ({"since": "0001-01-01T00:00:00-23:59"}, 200),
        ({"since": "0001-01-01T00:00:00+23:59"}, 400),  # before year 1 in UTC
        ({"until": "9999-12-31T23:59:59-23:59"}, 400),  # after year 9999 in UTC
        ({"since": "yesterday"}, 400),
    ],
)
def test_audit_dates_at_the_edges_of_the_calendar(people, client_for, query, status):
    record("test.event", actor=people["admin"])
    response = client_for(people["admin"]).get("/api/v1/audit/", query)
    assert response.status_code == status, response.content
    if status == 200:
        assert response.json()["count"] >= 1


def test_pages_refuse_ids_that_are_not_numbers(project, people, browser):
    case = factories.case(project)
    manager = browser(people["manager"])
    page = manager.post(
        f"/projects/{project.pk}/assign", {"cases": ["²", "9" * 30], "annotator": "annotator"}
    )
    assert page.status_code == 302  # "choose at least one case"
    assert not Assignment.objects.filter(case=case).exists()
    assert browser(people["annotator"]).post("/next/", {"project": "abc"}).status_code == 404
    assert browser(people["annotator"]).post("/next/", {"project": "²"}).status_code == 404
    admin = browser(people["admin"])
    for bad in ("abc", "²", "9" * 30):
        promote = admin.post(f"/projects/{project.pk}/models/promote", {"version": bad})
        assert promote.status_code == 404, bad


@pytest.mark.parametrize(
    "body, message",
    [
        ({"cron": "0 2 * * " + ",".join(["1"] * 200)}, "200 characters"),
        ({"cron": "not a valid cron at-all"}, "cron"),
        ({"cron": "61 * * * *"}, "cron"),
        ({"steps": 0}, "steps"),
        ({"steps": 10**12}, "steps"),
        ({"nsd_tolerance_mm": -5}, "nsd_tolerance_mm"),
        ({"nsd_tolerance_mm": 0}, "nsd_tolerance_mm"),
        ({"promote_margin": 5}, "promote_margin"),
        ({"max_dice_drop": -0.01}, "max_dice_drop"),
        ({"promote_error_share": -0.1}, "promote_error_share"),
        ({"promote_error_share": 1.5}, "promote_error_share"),
        ({"promote_error_share": "half"}, "promote_error_share"),
        ({"max_dice_drop": 0.9}, "max_dice_drop"),
        ({"max_dice_drop": "a lot"}, "max_dice_drop"),
        ({"min_new_accepted": 10**12}, "min_new_accepted"),
    ],
)
def test_round_policy_refuses_weak_or_broken_settings(project, people, client_for, body, message):
    client = client_for(people["admin"])
    url = f"/api/v1/projects/{project.pk}/round-policy"
    before = client.get(url).json()
    response = client.put(url, body, format="json")
    assert response.status_code == 400, response.content
    assert message in response.content.decode()
    assert client.get(url).json() == before
    assert client.put(url, {"cron": "0 2 * * 1-5", "steps": 50}, format="json").status_code == 200


def test_round_policy_service_refuses_what_the_page_sends(project, people):
    from annotator.core.errors import InvalidInput
    from annotator.modelops import schedules

    for fields in (
        {"steps": 0},
        {"nsd_tolerance_mm": -5.0},
        {"promote_margin": float("nan")},
        {"max_dice_drop": float("nan")},
        {"promote_error_share": float("nan")},
        {"promote_error_share": -0.1},
        {"promote_error_share": 1.01},
        {"max_dice_drop": -0.01},
        {"max_dice_drop": 0.6},
        {"heldout_fraction": float("inf")},
        {"cron": "not a valid cron at-all"},
    ):
        with pytest.raises(InvalidInput):
            schedules.update_policy(project, actor=people["admin"], **fields)


def test_error_messages_do_not_show_server_paths(people, client_for, settings):
    import io

    upload = io.BytesIO(b"not a checkpoint" * 10)
    upload.name = "model.pt"
    response = client_for(people["admin"]).post(
        "/api/v1/models/",
        {"file": upload, "name": "broken", "config": "starter_c128"},
        format="multipart",
    )
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "checkpoint.pt" in detail and "cannot be read" in detail  # still says what failed
    assert settings.FILE_UPLOAD_TEMP_DIR not in detail and "/tmp" not in detail, detail


def test_server_paths_are_cut_from_domain_errors(settings):
    from annotator.core.errors import InvalidInput

    message = f"{settings.MEDIA_ROOT}/cases/ab/12.nii.gz and /srv/other/x.zip: unreadable"
    assert InvalidInput(message).message == "12.nii.gz and x.zip: unreadable"
    for kept in ('cron "*/5 * * * *"', "1/2 of 2026/01/31", "labels a/b"):
        assert InvalidInput(kept).message == kept
