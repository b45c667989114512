"""Pseudo-labels: a round also trains on production's own masks of unopened cases, the surest
first, only of kinds where production scored well on the round's held-out cases, never evaluated
on (docs/inference.md)."""

import csv
import io

import numpy as np
import pytest
from django.test import Client

from annotator.annotations.masks import summarize
from annotator.annotations.models import Review
from annotator.annotations.services import store_revision
from annotator.cases.models import CaseStatus
from annotator.core.errors import InvalidInput
from annotator.modelops import round_run, rounds, schedules
from annotator.modelops.models import RoundPolicy, RoundStatus, Split
from tests import factories
from tests.modelops.helpers import blob_case, snapshot_export


def test_trusted_kinds_are_those_at_or_above_the_bar():
    figures = {"ct": {"dice": 0.95}, "mr": {"dice": 0.6}, "echo": {"dice": None}, "pet": {}}
    assert rounds.trusted_kinds(figures, 0.9) == {"ct"}
    assert rounds.trusted_kinds(figures, 0.6) == {"ct", "mr"}
    assert rounds.trusted_kinds({}, 0.1) == set()


def test_pick_pseudo_takes_the_surest_cases_of_each_trusted_kind():
    rows = [(1, "ct", 0.4), (2, "ct", None), (3, "ct", 0.1), (4, "ct", 0.1), (5, "mr", 0.0),
            (6, "echo", 0.2), (7, "echo", 0.3)]  # fmt: skip
    assert rounds.pick_pseudo(rows, {"ct"}, 2) == [3, 4]  # ties by case id
    assert rounds.pick_pseudo(rows, {"ct"}, 4) == [1, 2, 3, 4]  # unknown doubt comes last
    assert rounds.pick_pseudo(rows, {"ct", "echo"}, 1) == [3, 6]  # per kind, not in all
    assert rounds.pick_pseudo(rows, {"ct"}, 0) == []
    assert rounds.pick_pseudo(rows, set(), 9) == []


def model_case(
    project, version, *, seed, doubt=None, status=CaseStatus.READY, opened=False, flags=None
):
    """A case whose target's head is ``version``'s mask of its blob, with that doubt (and the
    flags of its checks)."""
    case, target, blob = blob_case(project, None, None, seed=seed, status=status)
    store_revision(target, summarize(blob.astype(np.uint8)), parent_id=None, source="model",
                   model_version=version, uncertainty=doubt, flags=flags)  # fmt: skip
    if opened:
        case.first_opened_at = case.created_at
        case.save(update_fields=["first_opened_at"])
    return case


@pytest.fixture
def production(project, people, tmp_path):
    """Six accepted cases and the production model; pseudo-labels: two cases per kind."""
    for seed in range(6):
        blob_case(project, people["annotator"], people["reviewer"], seed=seed)
    version = factories.tiny_model_version(tmp_path, project=project)
    RoundPolicy.objects.update_or_create(project=project, defaults={"pseudo_per_kind": 2})
    return version


def test_a_snapshot_pseudo_labels_unopened_cases_production_segmented(
    project, people, tmp_path, production
):
    unsure = model_case(project, production, seed=10, doubt=0.3)
    sure = model_case(project, production, seed=11, doubt=0.1)
    model_case(project, production, seed=12, doubt=None)  # unknown doubt: after the two
    model_case(project, production, seed=13, doubt=0.0, opened=True)  # an annotator opened it
    model_case(project, production, seed=14, doubt=0.0, status=CaseStatus.IN_PROGRESS)
    older = factories.tiny_model_version(tmp_path, project=project, seed=3, promote=False)
    model_case(project, older, seed=15, doubt=0.0)  # not production's mask
    drawn, target, blob = blob_case(project, None, None, seed=16, status=CaseStatus.READY)
    store_revision(target, summarize(blob.astype(np.uint8)), parent_id=None, source="human",
                   author=people["annotator"])  # fmt: skip

    plain = rounds.take_snapshot(project)
    snap = rounds.take_snapshot(project, production)
    pseudo = snap.entries.filter(split=Split.PSEUDO)
    assert sorted(e.case_id for e in pseudo) == sorted([sure.pk, unsure.pk])
    assert all(e.revision.source == "model" for e in pseudo)
    assert snap.pseudo_count == 2 and plain.pseudo_count == 0
    assert (snap.train_count, snap.heldout_count) == (plain.train_count, plain.heldout_count)
    assert snap.sha256 != plain.sha256  # the pseudo-labels are part of what a round trains on
    assert drawn.pk not in {e.case_id for e in snap.entries.all()}
    RoundPolicy.objects.filter(project=project).update(pseudo_per_kind=0)  # switched off
    assert rounds.take_snapshot(project, production).pseudo_count == 0


def test_a_pseudo_labelled_case_accepted_later_is_new_data_with_a_side(project, people, production):
    case = model_case(project, production, seed=10, doubt=0.1)
    first = rounds.start_round(project, actor=people["admin"])
    assert first.snapshot.entries.get(case=case).split == Split.PSEUDO
    first.status = RoundStatus.CANDIDATE
    first.save(update_fields=["status"])
    assert rounds.new_accepted_since_last_round(project) == 0

    # The annotator accepts production's mask as it is: the same revision, now accepted.
    target = case.targets.get()
    Review.objects.create(target=target, revision=target.head, reviewer=people["reviewer"],
                          decision="accept")  # fmt: skip
    case.status = CaseStatus.ACCEPTED
    case.save(update_fields=["status"])
    assert rounds.new_accepted_since_last_round(project) == 1
    again = rounds.take_snapshot(project, production)
    assert again.entries.get(case=case).split in (Split.TRAIN, Split.HELDOUT)


def _trusted_on_ct(round_, dice: float) -> None:
    """Production's held-out figures, as the round's first step records them."""
    summary = {"n": 2, "dice": dice, "nsd": dice}
    round_.metrics = {"production": {"summary": summary, "labels": {"lesion": summary},
                                     "kinds": {"ct": summary}, "targets": []}}  # fmt: skip
    round_.save(update_fields=["metrics"])


def test_a_round_trains_on_pseudo_labels_of_trusted_kinds_and_never_evaluates_on_them(
    project, people, production
):
    model_case(project, production, seed=10, doubt=0.1)
    round_ = rounds.start_round(project, actor=people["admin"], steps=2)
    assert round_.config["pseudo_min_dice"] == 0.9  # the policy's, fixed when it starts
    _trusted_on_ct(round_, 0.95)  # as if this resumed after production was evaluated
    round_ = round_run.run_round(round_.pk)
    assert round_.status == RoundStatus.CANDIDATE, round_.message
    replayed = round_.config["replay"]
    assert (replayed["pseudo_labels"], replayed["trusted_kinds"]) == (1, ["ct"])
    groups = replayed["groups"]
    assert sum(g["masks"] for g in groups.values()) == round_.snapshot.train_count + 1
    pseudo = round_.snapshot.entries.get(split=Split.PSEUDO).target_id
    assert pseudo not in {t["target"] for t in round_.metrics["candidate"]["targets"]}
    assert round_.metrics["production"]["summary"]["dice"] == 0.95  # not evaluated again
    admin = Client()
    admin.force_login(people["admin"])
    page = admin.get(f"/rounds/{round_.pk}/").content.decode()
    assert "1 pseudo-label candidate:" in page and "Pseudo-labels trained on: 1 (CT:" in page


def test_a_round_leaves_out_pseudo_labels_where_production_scored_below_the_bar(
    project, people, production
):
    model_case(project, production, seed=10, doubt=0.1)
    below = rounds.start_round(project, actor=people["admin"], steps=2)
    _trusted_on_ct(below, 0.89)
    below = round_run.run_round(below.pk)
    assert below.snapshot.pseudo_count == 1
    assert (below.config["replay"]["pseudo_labels"], below.config["replay"]["trusted_kinds"]) == (
        0, [])  # fmt: skip
    groups = below.config["replay"]["groups"]
    assert sum(g["masks"] for g in groups.values()) == below.snapshot.train_count
    admin = Client()
    admin.force_login(people["admin"])
    page = admin.get(f"/rounds/{below.pk}/").content.decode()
    assert "Pseudo-labels trained on: 0 (" in page and "was below 0.9 on every kind" in page

    # Evaluated for real: the random-weights model scores far below 0.9 on the blobs.
    again = rounds.start_round(project, actor=people["admin"], steps=2, force=True)
    again = round_run.run_round(again.pk)
    assert again.status == RoundStatus.CANDIDATE, again.message
    assert again.metrics["production"]["kinds"]["ct"]["dice"] < 0.9
    assert again.config["replay"]["pseudo_labels"] == 0


def test_a_snapshot_export_marks_pseudo_labels(project, people, production, client_for):
    case = model_case(project, production, seed=10, doubt=0.1)
    round_ = rounds.start_round(project)
    zf = snapshot_export(client_for(people["manager"]), project, round_, "manifest")
    manifest = csv.DictReader(io.StringIO(zf.read("manifest.csv").decode()))
    rows = {r["study_id"]: r for r in manifest}
    assert (rows[case.study_id]["split"], rows[case.study_id]["status"]) == ("pseudo", "pseudo")
    assert {r["status"] for sid, r in rows.items() if sid != case.study_id} == {"accepted"}


def test_pseudo_label_policy_from_the_api_and_the_page(project, people, client_for):
    api = client_for(people["admin"])
    url = f"/api/v1/projects/{project.pk}/round-policy"
    ok = api.put(url, {"pseudo_per_kind": 5, "pseudo_min_dice": 0.85}, format="json")
    assert ok.status_code == 200, ok.json()
    assert (ok.json()["pseudo_per_kind"], ok.json()["pseudo_min_dice"]) == (5, 0.85)
    for bad in ({"pseudo_per_kind": -1}, {"pseudo_per_kind": 1001}, {"pseudo_min_dice": 0},
                {"pseudo_min_dice": 1.5}, {"pseudo_min_dice": "x"}):  # fmt: skip
        assert api.put(url, bad, format="json").status_code == 400, bad
    with pytest.raises(InvalidInput, match="pseudo_min_dice"):
        schedules.update_policy(project, actor=people["admin"], pseudo_min_dice=float("nan"))
    policy = RoundPolicy.objects.get(project=project)
    assert (policy.pseudo_per_kind, policy.pseudo_min_dice) == (5, 0.85)

    page = Client()
    page.force_login(people["admin"])
    html = page.get(f"/projects/{project.pk}/rounds/").content.decode()
    assert 'name="pseudo_per_kind"' in html and 'name="pseudo_min_dice"' in html
    page.post(f"/projects/{project.pk}/rounds/policy",
              {"steps": 300, "heldout_fraction": 0.2, "promote_margin": 0.02,
               "pseudo_per_kind": 0, "pseudo_min_dice": 0.95})  # fmt: skip
    policy.refresh_from_db()
    assert (policy.pseudo_per_kind, policy.pseudo_min_dice) == (0, 0.95)
