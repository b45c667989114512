"""The authorization matrix of what issue #14 changed: promoting over a failed gate or the
quality floor (with and without a written reason), forcing a round, the floor in the round
policy, and the held-out figures in the model API, × every role."""

import pytest

from annotator.audit.models import AuditEvent
from annotator.modelops import rounds
from annotator.modelops.models import RoundStatus, TrainingRound
from annotator.registry import quality
from annotator.registry.models import ModelStatus, ModelVersion
from tests import factories
from tests.matrix import call_endpoint, endpoint_by_role_test
from tests.modelops.helpers import blob_case
from tests.test_api_permissions_loop import ADMIN_ONLY, P

FAILED_GATE = quality.metrics(
    {"ct": {"dice": 0.9, "nsd": 0.8, "n": 2}},
    source="round",
    gate={"passed": False, "reason": "Dice fell for lesion"},
)


@pytest.fixture
def world(project, people, tmp_path):
    factories.tiny_model_version(tmp_path, project=project)
    for seed in range(3):
        blob_case(project, people["annotator"], people["reviewer"], seed=seed)
    weak = factories.tiny_model_version(tmp_path, project=project, seed=2, promote=False)
    ModelVersion.objects.filter(pk=weak.pk).update(metrics={"heldout_dice": {"ct": 0.0}})
    round_ = rounds.start_round(project)
    candidate = factories.tiny_model_version(tmp_path, project=project, seed=3, promote=False)
    ModelVersion.objects.filter(pk=candidate.pk).update(metrics=FAILED_GATE)
    TrainingRound.objects.filter(pk=round_.pk).update(
        status=RoundStatus.CANDIDATE, candidate=candidate, metrics={"gate": FAILED_GATE["gate"]}
    )
    return {"project": project, "weak": weak, "round": round_}


REASON = {"override": "checked by hand"}
CASES = [
    ("model figures", "get", lambda w: f"/api/v1/models/{w['weak'].pk}/", None, None, P),
    ("promote below the floor", "post", lambda w: f"/api/v1/models/{w['weak'].pk}/promote",
     lambda w: {}, "json", {**ADMIN_ONLY, "admin": 409}),
    ("promote below the floor, with a reason", "post",
     lambda w: f"/api/v1/models/{w['weak'].pk}/promote", lambda w: REASON, "json",
     {**ADMIN_ONLY, "admin": 200}),
    ("promote a failed round", "post",
     lambda w: f"/api/v1/training-rounds/{w['round'].pk}/promote", lambda w: {}, "json",
     {**ADMIN_ONLY, "admin": 409}),
    ("promote a failed round, with a reason", "post",
     lambda w: f"/api/v1/training-rounds/{w['round'].pk}/promote", lambda w: REASON, "json",
     {**ADMIN_ONLY, "admin": 200}),
    ("start a round on the same data", "post", lambda w: "/api/v1/training-rounds/",
     lambda w: {"project": w["project"].pk}, "json", {**ADMIN_ONLY, "admin": 409}),
    ("force a round on the same data", "post", lambda w: "/api/v1/training-rounds/",
     lambda w: {"project": w["project"].pk, "force": True}, "json",
     {**ADMIN_ONLY, "admin": 201}),
    ("read the floor", "get", lambda w: f"/api/v1/projects/{w['project'].pk}/round-policy",
     None, None, P),
    ("set the floor", "put", lambda w: f"/api/v1/projects/{w['project'].pk}/round-policy",
     lambda w: {"dice_floor": {"ct": 0.6, "echo": 0.9}}, "json", {**ADMIN_ONLY, "admin": 200}),
    ("set a bad floor", "put", lambda w: f"/api/v1/projects/{w['project'].pk}/round-policy",
     lambda w: {"dice_floor": {"ct": 1.5}}, "json", {**ADMIN_ONLY, "admin": 400}),
]  # fmt: skip


test_endpoint_by_role = endpoint_by_role_test(CASES)


def test_answers_carry_figures_problems_and_the_override(world, people, client_for):
    admin = client_for(people["admin"])
    weak = admin.get(f"/api/v1/models/{world['weak'].pk}/").json()
    assert weak["metrics"]["heldout"] == {"ct": {"dice": 0.0, "nsd": None, "n": None}}
    assert weak["metrics"]["source"] == "phantoms"  # an old row, read in the one schema
    assert weak["promotion_problems"] == ["held-out CT Dice 0.000 is below the floor 0.50"]
    refused = admin.post(f"/api/v1/models/{world['weak'].pk}/promote", {}, format="json")
    assert refused.json()["code"] == "override_required"
    assert refused.json()["problems"] == weak["promotion_problems"]
    blank = admin.post(
        f"/api/v1/models/{world['weak'].pk}/promote", {"override": "  "}, format="json"
    )
    assert blank.status_code == 409
    done = admin.post(f"/api/v1/models/{world['weak'].pk}/promote", REASON, format="json").json()
    assert done["status"] == ModelStatus.PRODUCTION and done["promotion_problems"] == []
    assert done["override"]["reason"] == "checked by hand" and done["override"]["by"] == "admin"
    assert AuditEvent.objects.filter(action="model.promote", actor=people["admin"]).exists()
    listed = admin.get("/api/v1/models/").json()["results"]
    assert all("heldout" in m["metrics"] and "source" in m["metrics"] for m in listed)


def test_the_floor_reads_back_and_is_audited(world, people, client_for):
    admin = client_for(people["admin"])
    url = f"/api/v1/projects/{world['project'].pk}/round-policy"
    assert admin.get(url).json()["dice_floor"] == quality.DEFAULT_FLOORS
    call_endpoint(client_for, people, world, "admin", "put", lambda w: url,
                  lambda w: {"dice_floor": {"ct": 0.6}}, "json")  # fmt: skip
    assert admin.get(url).json()["dice_floor"]["ct"] == 0.6
    assert AuditEvent.objects.get(action="model.floor").data["floors"] == {"ct": 0.6}
    unknown = admin.put(url, {"dice_floor": {"liver": 0.6}}, format="json")
    assert unknown.status_code == 400 and "unknown kind" in unknown.json()["detail"]
