"""Snapshots, the split by case, the gate, schedules and re-pre-segmentation (no training)."""

import pytest

from annotator.annotations.models import PresegmentJob, Target
from annotator.cases.models import CaseStatus
from annotator.cases.ordering import evaluation_draw, in_sample
from annotator.core.errors import Conflict, InvalidInput
from annotator.modelops import evaluation, rounds, schedules
from annotator.modelops.models import RoundStatus, TrainingRound
from annotator.registry import services
from tests import factories
from tests.modelops.helpers import blob_case, snapshot_export


@pytest.fixture
def accepted(project, people):
    return [
        blob_case(project, people["annotator"], people["reviewer"], seed=s)[0] for s in range(6)
    ]


def test_snapshot_is_immutable_hashed_and_split_by_case(project, accepted):
    snap = rounds.take_snapshot(project)
    entries = list(snap.entries.all())
    assert len(entries) == 6 == snap.train_count + snap.heldout_count
    assert snap.train_count > 0 and snap.heldout_count > 0
    by_case = {}
    for e in entries:
        by_case.setdefault(e.case_id, set()).add(e.split)
    assert all(len(splits) == 1 for splits in by_case.values())  # never both sides
    again = rounds.take_snapshot(project)
    assert again.sha256 == snap.sha256  # same data, same hash: reproducible
    assert {(e.case_id, e.split) for e in again.entries.all()} == {
        (e.case_id, e.split) for e in entries
    }
    snap.train_count = 99
    with pytest.raises(ValueError, match="immutable"):
        snap.save()
    with pytest.raises(ValueError, match="immutable"):
        entries[0].save()


def test_split_stays_stable_as_cases_are_added(project, people, accepted):
    first = {e.case_id: e.split for e in rounds.take_snapshot(project).entries.all()}
    for seed in range(6, 10):
        blob_case(project, people["annotator"], people["reviewer"], seed=seed)
    second = {e.case_id: e.split for e in rounds.take_snapshot(project).entries.all()}
    assert all(second[cid] == split for cid, split in first.items())


CT, MR, ECHO = ("ct", "lesion"), ("mr", "lesion"), ("echo", "left ventricle")


def _hashed(fraction: float, sides: dict[str, int], after: int = 0) -> dict:
    """Case ids above ``after`` whose hashed side is as asked: {"train": [n of
    them], "heldout": [...]}."""
    found: dict[str, list[int]] = {"train": [], "heldout": []}
    cid = after
    while any(len(found[s]) < n for s, n in sides.items()):
        cid += 1
        side = rounds.case_split(cid, fraction)
        if len(found[side]) < sides.get(side, 0):
            found[side].append(cid)
    return found


def test_the_split_holds_out_the_queues_evaluation_sample():
    # the cases a doubt-first queue serves whatever their doubt are the ones held out
    for cid in range(1, 500):
        for fraction in (0.1, 0.2, 0.35):
            held = rounds.case_split(cid, fraction) == "heldout"
            assert held == in_sample(cid, fraction)


def test_the_split_holds_out_and_trains_on_every_kind():
    # Four CT cases the hash puts all on the training side: one is held out after all (the one
    # nearest the cut), or the gate could not see CT regress.
    ct = _hashed(0.2, {"train": 4})["train"]
    mr = _hashed(0.2, {"heldout": 2, "train": 2}, after=max(ct))
    echo = _hashed(0.2, {"heldout": 1}, after=max(ct + mr["train"] + mr["heldout"]))["heldout"]
    ids = sorted({*ct, *mr["train"], *mr["heldout"], *echo})
    strata = {**{c: {CT} for c in ct}, **{c: {MR} for c in mr["train"] + mr["heldout"]},
              **{c: {ECHO} for c in echo}}  # fmt: skip
    sides = rounds.assign_sides(ids, {}, 0.2, strata)
    nearest = min(ct, key=evaluation_draw)
    assert [c for c in ct if sides[c] == "heldout"] == [nearest]
    assert all(sides[c] == "train" for c in mr["train"]) and all(
        sides[c] == "heldout" for c in mr["heldout"]
    )  # a kind covered on both sides keeps its hashed sides
    assert sides[echo[0]] == "train"  # one case of a kind: trained on, not held out
    assert rounds.assign_sides(ids, {}, 0.2, {}) == {
        c: rounds.case_split(c, 0.2) for c in ids
    }  # without strata: the hash (and the rule that both sides are used)


def test_only_new_cases_change_side():
    ct = _hashed(0.2, {"train": 3})["train"]
    earlier = {c: "train" for c in ct[:2]}
    sides = rounds.assign_sides(ct, earlier, 0.2, {c: {CT} for c in ct})
    assert sides == {ct[0]: "train", ct[1]: "train", ct[2]: "heldout"}
    # The old ones were held out: a new CT case the hash holds out too trains instead.
    late = _hashed(0.2, {"heldout": 1}, after=max(ct))["heldout"]
    held = {c: "heldout" for c in ct[:2]}
    sides = rounds.assign_sides(ct[:2] + late, held, 0.2, {c: {CT} for c in ct[:2] + late})
    assert sides == {**held, late[0]: "train"}
    # A case with two strata is not held out if it is the last training case of either.
    two = _hashed(0.2, {"train": 3})["train"]
    strata = {two[0]: {CT, MR}, two[1]: {CT}, two[2]: {MR, ECHO}}
    sides = rounds.assign_sides(two, {}, 0.2, strata)
    assert sides[two[0]] == "heldout" or sides[two[1]] == "heldout"
    assert {s for c in two if sides[c] == "train" for s in strata[c]} == {CT, MR, ECHO}


def test_a_snapshot_holds_out_every_label(project, people):
    policy = rounds.policy_for(project)
    policy.heldout_fraction = 0.0  # the hash holds nothing out
    policy.save()
    cases = [blob_case(project, people["annotator"], people["reviewer"], seed=s)
             for s in range(4)]  # fmt: skip
    for _, target, _ in cases[2:]:
        Target.objects.filter(pk=target.pk).update(label="cyst")
    side = {e.case_id: e.split for e in rounds.take_snapshot(project).entries.all()}
    labels = dict(Target.objects.values_list("case_id", "label"))
    held = [labels[cid] for cid, s in side.items() if s == "heldout"]
    assert sorted(held) == ["cyst", "lesion"]  # one of each; the hash alone: none


def test_snapshot_needs_two_cases(project, people):
    blob_case(project, people["annotator"], people["reviewer"], seed=0)
    with pytest.raises(InvalidInput, match="at least 2 cases"):
        rounds.take_snapshot(project)


def _metrics(cand, prod, cand_labels, prod_labels):
    def block(mean, labels):
        return {"summary": {"dice": mean}, "labels": {k: {"dice": v} for k, v in labels.items()}}

    return {"candidate": block(cand, cand_labels), "production": block(prod, prod_labels)}


def test_gate():
    ok, reason = evaluation.gate(
        _metrics(0.80, 0.70, {"a": 0.8, "b": 0.8}, {"a": 0.7, "b": 0.7}), 0.02
    )
    assert ok, reason
    worse, reason = evaluation.gate(_metrics(0.69, 0.70, {"a": 0.69}, {"a": 0.70}), 0.02)
    assert not worse and "fell" in reason
    small, reason = evaluation.gate(_metrics(0.71, 0.70, {"a": 0.71}, {"a": 0.70}), 0.02)
    assert not small and "does not beat" in reason
    regress, reason = evaluation.gate(
        _metrics(0.90, 0.70, {"a": 0.99, "b": 0.60}, {"a": 0.6, "b": 0.8}), 0.02
    )
    assert not regress and "b" in reason


def test_the_gate_refuses_a_kind_that_regresses_under_a_shared_label():
    # "lesion" on CT and MR: the label's mean rises while CT lesions get worse.
    def block(mean, label, kinds):
        return {"summary": {"dice": mean}, "labels": {"lesion": {"dice": label}},
                "kinds": {k: {"dice": v} for k, v in kinds.items()}}  # fmt: skip

    metrics = {
        "candidate": block(0.85, 0.85, {"ct": 0.75, "mr": 0.95}),
        "production": block(0.75, 0.75, {"ct": 0.80, "mr": 0.70}),
    }
    passed, reason = evaluation.gate(metrics, 0.02)
    assert not passed and reason == "Dice fell for CT (0.800 → 0.750)"
    metrics["candidate"]["kinds"]["ct"]["dice"] = 0.80
    assert evaluation.gate(metrics, 0.02)[0]


def test_the_gate_allows_a_fall_within_max_drop_and_no_more():
    # MR gains 0.25 while CT falls 0.015: within a 0.02 allowance, passed; at 0 (the strict
    # rule) or when CT falls 0.05, refused, and the reason gives the figures and the allowance.
    def block(mean, kinds):
        return {"summary": {"dice": mean}, "labels": {"lesion": {"dice": mean}},
                "kinds": {k: {"dice": v} for k, v in kinds.items()}}  # fmt: skip

    metrics = {
        "candidate": block(0.855, {"ct": 0.785, "mr": 0.95}),
        "production": block(0.75, {"ct": 0.80, "mr": 0.70}),
    }
    assert evaluation.gate(metrics, 0.02, max_drop=0.02)[0]
    assert evaluation.gate(metrics, 0.02, max_drop=0.0) == (
        False, "Dice fell for CT (0.800 → 0.785)")  # fmt: skip
    metrics["candidate"]["kinds"]["ct"]["dice"] = 0.75
    assert evaluation.gate(metrics, 0.02, max_drop=0.02) == (
        False, "Dice fell by more than 0.020 for CT (0.800 → 0.750)")  # fmt: skip
    metrics["candidate"]["labels"]["lesion"]["dice"] = 0.70  # the label's mean, too
    reason = evaluation.gate(metrics, 0.02, max_drop=0.02)[1]
    assert reason == "Dice fell by more than 0.020 for lesion (0.750 → 0.700), CT (0.800 → 0.750)"


def test_one_round_at_a_time_and_the_schedule_fires_once(project, accepted, tmp_path):
    factories.tiny_model_version(tmp_path, project=project)
    assert schedules.maybe_start(project) == "started round 1 (CT)"  # a model per kind: default
    assert schedules.maybe_start(project) == "a round is already running"
    with pytest.raises(Conflict, match="already running"):
        rounds.start_round(project)
    assert TrainingRound.objects.count() == 1
    # Finished, and nothing new accepted since: the schedule does not start another.
    TrainingRound.objects.update(status=RoundStatus.CANDIDATE)
    assert schedules.maybe_start(project).startswith("not due: 0 new")


def test_threshold_schedule(project, people, tmp_path):
    factories.tiny_model_version(tmp_path, project=project)
    schedules.set_schedule(project, cron="0 2 * * *", min_new_accepted=3)
    blob_case(project, people["annotator"], people["reviewer"], seed=1)
    blob_case(project, people["annotator"], people["reviewer"], seed=2)
    assert schedules.maybe_start(project).startswith("not due: 2 new")
    blob_case(project, people["annotator"], people["reviewer"], seed=3)
    assert schedules.maybe_start(project) == "started round 1 (CT)"
    described = schedules.describe(project)
    assert described["cron"] == "0 2 * * *" and described["min_new_accepted"] == 3
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name=schedules.task_name(project))
    assert task.task == schedules.TASK and task.args == f"[{project.pk}]"
    schedules.set_schedule(project, cron=None)
    assert not PeriodicTask.objects.filter(name=schedules.task_name(project)).exists()
    with pytest.raises(InvalidInput, match="5 fields"):
        schedules.set_schedule(project, cron="nightly")


def test_promotion_represegments_only_unopened_cases(
    project, people, tmp_path, django_capture_on_commit_callbacks
):
    old = factories.tiny_model_version(tmp_path, project=project, seed=1)
    unopened = factories.case(project, status=CaseStatus.READY)
    factories.target(unopened)
    opened = factories.case(project, status=CaseStatus.READY, assignee=people["annotator"])
    factories.target(opened)
    opened.first_opened_at = opened.created_at
    opened.save()
    in_progress = factories.case(project, status=CaseStatus.IN_PROGRESS)
    factories.target(in_progress)
    new = factories.tiny_model_version(tmp_path, project=project, seed=2, promote=False)
    with django_capture_on_commit_callbacks(execute=True):
        services.promote(new, override="test model: random weights, not evaluated")
    jobs = PresegmentJob.objects.all()
    assert {j.case_id for j in jobs} == {unopened.pk}
    assert all(j.model_version == new for j in jobs)
    unopened.refresh_from_db()
    assert unopened.status == CaseStatus.READY
    assert unopened.targets.get().head.model_version == new
    old.refresh_from_db()
    assert old.status == "retired"


def test_round_snapshot_exports_in_medsam2_npz_with_its_split(
    project, people, accepted, tmp_path, client_for
):
    import csv
    import io

    import numpy as np

    factories.tiny_model_version(tmp_path, project=project)
    round_ = rounds.start_round(project)
    client = client_for(people["manager"])
    zf = snapshot_export(client, project, round_, "npz")
    entries = {e.case.study_id: e for e in round_.snapshot.entries.select_related("case")}
    npz_names = sorted(n for n in zf.namelist() if n.endswith(".npz"))
    assert npz_names == sorted(f"{sid}.npz" for sid in entries)
    npz = np.load(io.BytesIO(zf.read(npz_names[0])))
    assert npz["imgs"].dtype == np.uint8 and npz["imgs"].shape == npz["gts"].shape
    assert npz["gts"].max() == 1
    manifest = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode())))
    assert {(r["study_id"], r["split"]) for r in manifest} == {
        (sid, e.split) for sid, e in entries.items()
    }
    bad = client.post(
        "/api/v1/exports/",
        {"project": project.pk, "scope": "snapshot", "training_round": 999, "format": "npz"},
        format="json",
    )
    assert bad.status_code == 400


@pytest.mark.parametrize(
    "production, margin, share, need",
    [
        (0.70, 0.02, 0.2, 0.02),  # far from 1: the margin (0.2 x 0.30 = 0.06 is more)
        (0.90, 0.02, 0.2, 0.02),  # where the two meet
        (0.947, 0.02, 0.2, 0.2 * 0.053),  # near 1: the share of what is left
        (0.99, 0.02, 0.5, 0.005),
        (0.947, 0.02, 1.0, 0.02),  # 1: the margin wherever it can be reached
        (0.947, -0.01, 0.2, -0.01),  # a negative margin stays the smaller
        (0.947, 0.02, 0.0, 0.0),  # 0: any gain at all
    ],
)
def test_required_gain(production, margin, share, need):
    assert evaluation.required_gain(production, margin, share) == pytest.approx(need)


def test_the_gate_asks_near_1_for_a_share_of_the_remaining_error():
    # The study's refused candidate: production 0.947, candidate 0.960 (+0.013): short of a fixed
    # 0.02, more than 20% of the 0.053 production leaves (0.0106).
    better = _metrics(0.960, 0.947, {"a": 0.960}, {"a": 0.947})
    passed, reason = evaluation.gate(better, 0.02, 0.02, error_share=0.2)
    assert passed and "gain needed 0.011: 0.2 of its remaining error 0.053" in reason
    refused, reason = evaluation.gate(better, 0.02, 0.02)  # the default share 1: fixed margin
    assert not refused and "does not beat production 0.947 by 0.020 (margin 0.020)" in reason
    # A candidate with no gain is still refused: 0.961 against 0.962.
    same = _metrics(0.961, 0.962, {"a": 0.961}, {"a": 0.962})
    passed, reason = evaluation.gate(same, 0.02, 0.02, error_share=0.2)
    assert not passed and "by 0.008 (0.2 of its remaining error 0.038" in reason
    # Far from 1 the share asks for more than the margin, and the margin decides.
    low = _metrics(0.73, 0.70, {"a": 0.73}, {"a": 0.70})
    passed, reason = evaluation.gate(low, 0.02, 0.02, error_share=0.2)
    assert passed and "gain needed 0.020: margin 0.020" in reason
