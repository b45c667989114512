"""The model-loop pages: members look, admins act."""

import pytest
from django.test import Client

from annotator.modelops import rounds
from annotator.modelops.models import RoundStatus, TrainingRound
from tests import factories
from tests.modelops.helpers import blob_case


@pytest.fixture
def a_round(project, people, tmp_path):
    for seed in range(4):
        blob_case(project, people["annotator"], people["reviewer"], seed=seed)
    factories.tiny_model_version(tmp_path, project=project)
    round_ = rounds.start_round(project)
    TrainingRound.objects.filter(pk=round_.pk).update(
        status=RoundStatus.CANDIDATE,
        metrics={
            "candidate": {"summary": {"n": 1, "dice": 0.81, "nsd": 0.9},
                          "labels": {"lesion": {"n": 1, "dice": 0.81, "nsd": 0.9}},
                          "targets": [{"target": 1, "label": "lesion", "dice": 0.81, "nsd": 0.9}]},
            "production": {"summary": {"n": 1, "dice": 0.52, "nsd": 0.6},
                           "labels": {"lesion": {"n": 1, "dice": 0.52, "nsd": 0.6}},
                           "targets": [{"target": 1, "label": "lesion", "dice": 0.52, "nsd": 0.6}]},
            "gate": {"passed": True, "reason": "mean Dice 0.810 vs production 0.520"},
        },
    )  # fmt: skip
    round_.refresh_from_db()
    return round_


def browser(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_members_see_rounds_and_comparison(project, people, a_round):
    page = browser(people["manager"]).get(f"/projects/{project.pk}/rounds/")
    assert page.status_code == 200 and b"Round 1" in page.content
    assert b"Start round" not in page.content  # only admins act
    detail = browser(people["reviewer"]).get(f"/rounds/{a_round.pk}/")
    assert detail.status_code == 200
    for text in (b"0.81", b"0.52", b"passes", b"lesion"):
        assert text in detail.content
    assert browser(people["outsider"]).get(f"/rounds/{a_round.pk}/").status_code == 404
    models = browser(people["annotator"]).get(f"/projects/{project.pk}/models/")
    assert models.status_code == 200 and b"tiny-0" in models.content


def test_admin_promotes_from_the_round_page(project, people, a_round):
    admin = browser(people["admin"])
    assert b"Promote the candidate" in admin.get(f"/rounds/{a_round.pk}/").content
    refused = browser(people["manager"]).post(f"/rounds/{a_round.pk}/promote")
    assert refused.status_code == 403
    TrainingRound.objects.filter(pk=a_round.pk).update(status=RoundStatus.CANDIDATE)
    a_round.refresh_from_db()
    assert a_round.candidate is None  # no training ran in this test: promotion is refused
    response = admin.post(f"/rounds/{a_round.pk}/promote", follow=True)
    assert b"only a candidate is promoted" in response.content


def test_admin_saves_policy_and_schedule(project, people):
    admin = browser(people["admin"])
    response = admin.post(
        f"/projects/{project.pk}/rounds/policy",
        {"steps": "50", "heldout_fraction": "0.25", "promote_margin": "0.01",
         "auto_promote": "on", "cron": "0 3 * * *", "min_new_accepted": "10"},
        follow=True,
    )  # fmt: skip
    assert b"saved" in response.content
    policy = rounds.policy_for(project)
    assert (policy.steps, policy.auto_promote, policy.min_new_accepted) == (50, True, 10)
    bad = admin.post(f"/projects/{project.pk}/rounds/policy", {"cron": "nightly"}, follow=True)
    assert b"5 fields" in bad.content
    assert (
        browser(people["manager"])
        .post(f"/projects/{project.pk}/rounds/policy", {"steps": "1"})
        .status_code
        == 403
    )


def test_start_round_page_reports_missing_data(project, people, tmp_path):
    factories.tiny_model_version(tmp_path, project=project)
    response = browser(people["admin"]).post(f"/projects/{project.pk}/rounds/start", follow=True)
    assert b"at least 2 cases" in response.content


def test_start_round_page_takes_steps_and_a_learning_rate(project, people, tmp_path):
    for seed in range(3):
        blob_case(project, people["annotator"], people["reviewer"], seed=seed)
    factories.tiny_model_version(tmp_path, project=project)
    admin = browser(people["admin"])
    bad = admin.post(
        f"/projects/{project.pk}/rounds/start", {"steps": "5", "learning_rate": "0.5"}, follow=True
    )
    assert b"between 1e-7 and 1e-2" in bad.content and not TrainingRound.objects.exists()
    admin.post(f"/projects/{project.pk}/rounds/start", {"steps": "5", "learning_rate": "2e-4"})
    round_ = TrainingRound.objects.get()
    assert round_.config["steps"] == 5 and round_.config["learning_rate"] == 2e-4


@pytest.mark.parametrize("value", [0, 0.5, "fast"])
def test_round_api_refuses_a_bad_learning_rate(project, people, tmp_path, client_for, value):
    for seed in range(3):
        blob_case(project, people["annotator"], people["reviewer"], seed=seed)
    factories.tiny_model_version(tmp_path, project=project)
    response = client_for(people["admin"]).post(
        "/api/v1/training-rounds/",
        {"project": project.pk, "steps": 5, "learning_rate": value},
        format="json",
    )
    assert response.status_code == 400 and "learning_rate" in str(response.json())
    assert not TrainingRound.objects.exists()
