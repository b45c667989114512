"""The forgetting check: a round's candidate segments production's unopened cases of kinds where
production's held-out Dice reaches the check's bar (not the pseudo-labels it trains on, not masks
production flagged) and may lose at most a share of what production found there
(docs/inference.md, "The gate: what production already finds")."""

import csv
import io

import pytest
from django.test import Client

from annotator.core.errors import InvalidInput
from annotator.modelops import round_run, rounds, schedules
from annotator.modelops.evaluation import (
    LOST_BELOW,
    check_summary,
    disputed,
    gate,
    lost_kinds,
)
from annotator.modelops.models import RoundPolicy, RoundStatus, Split
from tests import factories
from tests.modelops.helpers import blob_case, snapshot_export
from tests.modelops.test_pseudo_labels import _trusted_on_ct, model_case


def test_pick_check_takes_other_cases_per_kind_in_a_stable_order():
    rows = [(cid, "ct", 0.1 * cid) for cid in range(1, 9)] + [(20, "echo", None), (21, "echo", 0)]
    picked = rounds.pick_check(rows, {1, 2}, 3, project_id=7)
    ct = [cid for cid in picked if cid < 20]
    assert len(ct) == 3 and not {1, 2} & set(ct)  # never a pseudo-label
    assert {20, 21} <= set(picked)  # every kind, unknown doubt included
    assert rounds.pick_check(rows, {1, 2}, 3, project_id=7) == picked  # stable
    assert set(ct) <= set(rounds.pick_check(rows, {1, 2}, 4, project_id=7))  # grows, no reshuffle
    orders = {tuple(rounds.pick_check(rows, set(), 3, project_id=p)) for p in range(1, 9)}
    assert len(orders) > 1  # the order is a hash, not the doubt or the case id
    assert rounds.pick_check(rows, set(), 0, project_id=7) == []
    assert rounds.pick_check([], set(), 5, project_id=7) == []


def _check(*agreements, kind="ct"):
    rows = [{"target": i, "label": "lesion", "kind": kind, "agreement": a}
            for i, a in enumerate(agreements)]  # fmt: skip
    return {"targets": rows, "kinds": check_summary(rows)}


def _metrics(check=None, cand=0.95, prod=0.90):
    def summary(d):
        figures = {"n": 3, "dice": d, "nsd": d}
        return {"summary": figures, "labels": {"lesion": figures}, "kinds": {"ct": figures}}

    out = {"candidate": summary(cand), "production": summary(prod)}
    if check is not None:
        out["check"] = check
    return out


def test_the_check_counts_a_case_lost_below_half_of_production_s_mask():
    assert LOST_BELOW == 0.7
    summary = check_summary(_check(0.9, 0.7, 0.69, 0.0)["targets"])
    assert summary == {"ct": {"n": 4, "lost": 2, "disputed": 0, "agreement": 0.5725}}
    assert check_summary([]) == {}
    assert lost_kinds(_check(0.9, 0.1, 0.95, 0.9), 0.25) == []  # 1 of 4 is the share, not more
    assert lost_kinds(_check(0.9, 0.1, 0.1, 0.9), 0.25) == ["CT: 2 of 4"]
    assert lost_kinds(_check(0.1, 0.1), 1.0) == []  # 1: the rule is off
    assert lost_kinds({"targets": [], "kinds": {}}, 0.0) == [] and lost_kinds(None, 0.0) == []


def test_the_gate_refuses_a_candidate_that_loses_what_production_finds():
    passed, reason = gate(_metrics(_check(0.9, 0.1, 0.1, 0.9)), 0.02, 0.02, 0.2, 0.25)
    assert not passed and reason.startswith("loses what production finds on unopened cases")
    assert "CT: 2 of 4" in reason and "at most 25% may be" in reason
    assert gate(_metrics(_check(0.9, 0.1, 0.95, 0.9)), 0.02, 0.02, 0.2, 0.25)[0]
    assert gate(_metrics(), 0.02, 0.02, 0.2, 0.0)[0]  # no check run: the held-out rules alone
    assert gate(_metrics(_check(0.1, 0.1)), 0.02, 0.02, 0.2)[0]  # gate()'s default: off
    # The held-out rules come first, then the check, then the gain.
    fell = gate(_metrics(_check(0.1), cand=0.80), 0.02, 0.02, 0.2, 0.0)[1]
    assert fell.startswith("Dice fell")
    small = gate(_metrics(_check(0.9), cand=0.905), 0.02, 0.02, 0.2, 0.0)[1]
    assert "does not beat production" in small


@pytest.fixture
def production(project, people, tmp_path):
    """Six accepted cases and the production model; one pseudo-label and two check cases per
    kind."""
    for seed in range(6):
        blob_case(project, people["annotator"], people["reviewer"], seed=seed)
    version = factories.tiny_model_version(tmp_path, project=project)
    RoundPolicy.objects.update_or_create(
        project=project, defaults={"pseudo_per_kind": 1, "check_per_kind": 2}
    )
    return version


def test_a_snapshot_checks_other_unopened_cases_than_it_pseudo_labels(project, people, production):
    sure = model_case(project, production, seed=10, doubt=0.0)
    others = {model_case(project, production, seed=s, doubt=0.2).pk for s in (11, 12, 13)}
    model_case(project, production, seed=14, doubt=0.1, opened=True)  # an annotator opened it
    snap = rounds.take_snapshot(project, production)
    entries = snap.entries.all()
    assert [e.case_id for e in entries if e.split == Split.PSEUDO] == [sure.pk]
    checked = {e.case_id for e in entries if e.split == Split.CHECK}
    assert len(checked) == 2 and checked <= others
    assert (snap.pseudo_count, snap.check_count) == (1, 2)
    assert snap.train_count + snap.heldout_count == 6
    assert rounds.take_snapshot(project, production).sha256 == snap.sha256  # stable
    RoundPolicy.objects.filter(project=project).update(check_per_kind=0)
    off = rounds.take_snapshot(project, production)
    assert off.check_count == 0 and off.sha256 != snap.sha256
    RoundPolicy.objects.filter(project=project).update(pseudo_per_kind=0, check_per_kind=3)
    assert rounds.take_snapshot(project, production).check_count == 3  # the sure one may be too


def test_checked_cases_are_not_new_accepted_masks(project, people, production):
    for seed in (10, 11, 12):
        model_case(project, production, seed=seed, doubt=0.1)
    first = rounds.start_round(project, actor=people["admin"])
    assert first.snapshot.check_count == 2
    first.status = RoundStatus.CANDIDATE
    first.save(update_fields=["status"])
    assert rounds.new_accepted_since_last_round(project) == 0


def test_a_lost_target_whose_candidate_mask_passes_its_checks_is_disputed_and_still_lost():
    rows = [
        {"target": 1, "kind": "mr", "agreement": 0.66, "candidate_flags": []},  # disputed
        {"target": 2, "kind": "mr", "agreement": 0.0, "candidate_flags": ["off_box", "empty"]},
        {"target": 3, "kind": "mr", "agreement": 0.95, "candidate_flags": []},  # kept
        {"target": 4, "kind": "mr", "agreement": 0.5},  # a row from before flags were kept
        {"target": 5, "kind": "mr", "agreement": 0.71, "candidate_flags": ["area_jump"]},
    ]
    assert [disputed(r) for r in rows] == [True, False, False, False, False]
    summary = check_summary(rows)["mr"]
    assert (summary["n"], summary["lost"], summary["disputed"]) == (5, 3, 1)
    # Disputed losses still count: the gate refuses on them as before.
    assert lost_kinds({"targets": rows, "kinds": {"mr": summary}}, 0.05) == ["MR: 3 of 5"]


def test_the_round_page_lists_lost_cases_worst_first_with_disputed_ones_marked():
    from annotator.web.model_pages import _check

    rows = [
        {"target": 7, "case": 70, "label": "lesion", "kind": "mr", "agreement": 0.66,
         "candidate_flags": []},
        {"target": 8, "case": 80, "label": "lesion", "kind": "mr", "agreement": 0.0,
         "candidate_flags": ["off_box", "area_jump"]},
        {"target": 9, "case": 90, "label": "lesion", "kind": "mr", "agreement": 0.9,
         "candidate_flags": []},
    ]  # fmt: skip
    shown = _check({"targets": rows, "kinds": check_summary(rows)}, 0.8)
    assert [(r["case"], r["disputed"], r["flag_names"]) for r in shown["lost"]] == [
        (80, False, "off box, area jump"),
        (70, True, ""),
    ]
    assert shown["kinds"][0]["disputed"] == 1 and shown["kinds"][0]["lost"] == 2
    assert _check(None, 0.8) is None


def test_a_round_refuses_a_candidate_that_loses_production_s_findings(project, people, production):
    model_case(project, production, seed=10, doubt=0.0)  # the pseudo-label
    checked = {model_case(project, production, seed=s, doubt=0.2).pk for s in (11, 12)}
    # The tiny candidate also scores 0 on the held-out blobs: allow any fall there, so that the
    # check is the rule that refuses it.
    RoundPolicy.objects.filter(project=project).update(max_dice_drop=1.0)
    round_ = rounds.start_round(project, actor=people["admin"], steps=2)
    _trusted_on_ct(round_, 0.95)  # as if production had scored 0.95 on the held-out cases
    round_ = round_run.run_round(round_.pk)
    assert round_.status == RoundStatus.CANDIDATE, round_.message
    check = round_.metrics["check"]
    # The masks are the blobs; the tiny random-weights candidate misses them: every case lost.
    assert {t["target"] for t in check["targets"]} == {
        e.target_id for e in round_.snapshot.entries.filter(split=Split.CHECK)
    }
    assert {e.case_id for e in round_.snapshot.entries.filter(split=Split.CHECK)} == checked
    assert all(0 <= t["agreement"] < LOST_BELOW for t in check["targets"])
    assert check["kinds"]["ct"]["n"] == check["kinds"]["ct"]["lost"] == 2
    # What an admin needs to judge each loss: its case, the candidate's flags, both doubts.
    assert {t["case"] for t in check["targets"]} == checked
    for row in check["targets"]:
        assert row["production_doubt"] == 0.2
        assert row["candidate_flags"] and 0 <= row["candidate_doubt"] <= 1, row
        assert not disputed(row)  # the random-weights candidate's masks fail their checks
    assert check["kinds"]["ct"]["disputed"] == 0
    held_out = {t["target"] for t in round_.metrics["candidate"]["targets"]}
    assert not held_out & {t["target"] for t in check["targets"]}  # never evaluated as truth
    groups = round_.config["replay"]["groups"]
    assert sum(g["masks"] for g in groups.values()) == round_.snapshot.train_count + 1
    gate_ = round_.metrics["gate"]
    assert not gate_["passed"] and "CT: 2 of 2" in gate_["reason"], gate_
    admin = Client()
    admin.force_login(people["admin"])
    page = admin.get(f"/rounds/{round_.pk}/").content.decode()
    assert "data-check" in page and "2 for the forgetting check" in page
    assert "loses what production finds" in page
    for case_id in checked:  # each lost case links to the viewer, with why it is not disputed
        assert f'href="/cases/{case_id}/"' in page
    assert page.count("the candidate's mask is flagged") == 2, page


def test_a_round_checks_kinds_that_reach_the_check_s_bar(project, people, production):
    for seed in (10, 11, 12):
        model_case(project, production, seed=seed, doubt=0.1)
    RoundPolicy.objects.filter(project=project).update(max_dice_drop=1.0)
    below = rounds.start_round(project, actor=people["admin"], steps=2)
    assert (below.config["pseudo_min_dice"], below.config["check_min_dice"]) == (0.9, 0.8)
    _trusted_on_ct(below, 0.79)  # below both bars: nothing trained on, nothing checked
    below = round_run.run_round(below.pk)
    assert below.status == RoundStatus.CANDIDATE, below.message
    assert below.metrics["check"] == {"targets": [], "kinds": {}}
    assert below.config["replay"]["pseudo_labels"] == 0
    assert "loses what production finds" not in below.metrics["gate"]["reason"]
    admin = Client()
    admin.force_login(people["admin"])
    page = admin.get(f"/rounds/{below.pk}/").content.decode()
    assert "held-out Dice reached 0.80" in page and "No kind reached the bar" in page

    # Between the bars: production's masks are compared with, not trained on.
    between = rounds.start_round(project, actor=people["admin"], steps=2, force=True)
    _trusted_on_ct(between, 0.85)
    between = round_run.run_round(between.pk)
    assert between.status == RoundStatus.CANDIDATE, between.message
    assert between.config["replay"]["pseudo_labels"] == 0
    assert between.metrics["check"]["kinds"]["ct"]["n"] == 2  # the tiny candidate loses both
    assert not between.metrics["gate"]["passed"]
    assert "CT: 2 of 2" in between.metrics["gate"]["reason"]


def test_the_check_leaves_out_masks_production_flagged(project, people, production):
    model_case(project, production, seed=10, doubt=0.0)  # the pseudo-label
    flags = [{"code": "area_jump", "slices": [3], "detail": "grows threefold"}]
    flagged = model_case(project, production, seed=11, doubt=0.6, flags=flags)
    kept = model_case(project, production, seed=12, doubt=0.2)
    RoundPolicy.objects.filter(project=project).update(max_dice_drop=1.0)
    round_ = rounds.start_round(project, actor=people["admin"], steps=2)
    checked = {e.case_id: e.target_id for e in round_.snapshot.entries.filter(split=Split.CHECK)}
    assert set(checked) == {flagged.pk, kept.pk}  # in the snapshot: flags are read at the check
    _trusted_on_ct(round_, 0.95)
    round_ = round_run.run_round(round_.pk)
    assert round_.status == RoundStatus.CANDIDATE, round_.message
    assert [t["target"] for t in round_.metrics["check"]["targets"]] == [checked[kept.pk]]
    assert round_.metrics["check"]["kinds"]["ct"]["n"] == 1


def test_a_snapshot_export_marks_checked_cases(project, people, production, client_for):
    model_case(project, production, seed=10, doubt=0.0)
    checked = model_case(project, production, seed=11, doubt=0.2)
    round_ = rounds.start_round(project)
    zf = snapshot_export(client_for(people["manager"]), project, round_, "manifest")
    manifest = csv.DictReader(io.StringIO(zf.read("manifest.csv").decode()))
    row = next(r for r in manifest if r["study_id"] == checked.study_id)
    assert (row["split"], row["status"]) == ("check", "pseudo")


def test_the_check_policy_from_the_api_and_the_page(project, people, client_for):
    api = client_for(people["admin"])
    url = f"/api/v1/projects/{project.pk}/round-policy"
    defaults = api.get(url).json()
    assert (defaults["check_per_kind"], defaults["max_lost_share"]) == (24, 0.05)
    assert defaults["check_min_dice"] == 0.8
    ok = api.put(url, {"check_per_kind": 8, "max_lost_share": 0.25, "check_min_dice": 0.7},
                 format="json")  # fmt: skip
    assert ok.status_code == 200, ok.json()
    assert (ok.json()["check_per_kind"], ok.json()["max_lost_share"]) == (8, 0.25)
    assert ok.json()["check_min_dice"] == 0.7
    for bad in ({"check_per_kind": -1}, {"check_per_kind": 1001}, {"max_lost_share": -0.1},
                {"max_lost_share": 1.5}, {"max_lost_share": "some"}, {"check_min_dice": 0},
                {"check_min_dice": 1.01}, {"check_min_dice": "x"}):  # fmt: skip
        assert api.put(url, bad, format="json").status_code == 400, bad
    for bad in (float("nan"), 2.0):
        with pytest.raises(InvalidInput, match="max_lost_share"):
            schedules.update_policy(project, actor=people["admin"], max_lost_share=bad)
    with pytest.raises(InvalidInput, match="check_per_kind"):
        schedules.update_policy(project, actor=people["admin"], check_per_kind=True)
    for bad in (float("nan"), 0.0, float("inf")):
        with pytest.raises(InvalidInput, match="check_min_dice"):
            schedules.update_policy(project, actor=people["admin"], check_min_dice=bad)
    policy = RoundPolicy.objects.get(project=project)
    assert (policy.check_per_kind, policy.max_lost_share) == (8, 0.25)
    assert policy.check_min_dice == 0.7

    page = Client()
    page.force_login(people["admin"])
    html = page.get(f"/projects/{project.pk}/rounds/").content.decode()
    assert 'name="check_per_kind"' in html and 'name="max_lost_share"' in html
    assert 'name="check_min_dice"' in html
    assert ("up to 8 other such cases per kind where production's held-out Dice is at least "
            "0.70: it may lose at most 25% of them") in html  # fmt: skip
    page.post(f"/projects/{project.pk}/rounds/policy",
              {"steps": 300, "heldout_fraction": 0.2, "promote_margin": 0.02,
               "check_per_kind": 0, "max_lost_share": 0.5, "check_min_dice": 0.85})  # fmt: skip
    policy.refresh_from_db()
    assert (policy.check_per_kind, policy.max_lost_share) == (0, 0.5)
    assert policy.check_min_dice == 0.85
    for role in ("manager", "annotator", "reviewer"):
        refused = client_for(people[role]).put(url, {"max_lost_share": 1.0}, format="json")
        assert refused.status_code == 403, role
    policy.refresh_from_db()
    assert policy.max_lost_share == 0.5
