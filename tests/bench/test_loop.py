"""bench/loop.py's pure parts: the cohorts' seeds are disjoint (asserted in code), the simulated
annotator submits the model's mask where it accepts it and its correction elsewhere, and the
time model charges what docs/inference.md says."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import loop  # noqa: E402

from inference.phantoms import KINDS, make_phantoms  # noqa: E402


def test_the_cohorts_seeds_are_disjoint_and_overlap_is_refused():
    for seed in (0, 1):
        seeds = loop.cohort_seeds(seed)
        assert len(set(seeds.values())) == 3
        loop.check_disjoint({
            "start": (seeds["start"], make_phantoms(["ct"], 6, seed=seeds["start"])),
            "pool": (seeds["pool"], make_phantoms(KINDS, 6, seed=seeds["pool"])),
            "eval": (seeds["eval"], make_phantoms(KINDS, 6, seed=seeds["eval"])),
        })  # fmt: skip
    # The old bench's mistake: with --seed 1 its cohort seed was the start set's.
    same = make_phantoms(["ct"], 3, seed=7)
    with pytest.raises(AssertionError, match="phantom seed"):
        loop.check_disjoint({"start": (7, same), "pool": (7, same)})
    # Different seeds, the same image (a cohort copied under another name): refused too.
    with pytest.raises(AssertionError, match="image"):
        loop.check_disjoint({"start": (7, same), "pool": (8, same)})
    with pytest.raises(ValueError):
        loop.cohort_seeds(1000)


def _target() -> np.ndarray:
    truth = np.zeros((6, 20, 20), dtype=np.uint8)
    truth[1:5, 5:15, 5:15] = 1  # on 4 slices
    return truth


def test_a_mask_accepted_as_is_costs_the_box_the_check_and_the_review():
    truth = _target()
    lab = loop.annotate(truth.copy(), truth, 0.9)
    assert lab.redrawn == 0 and lab.model_dice == 1.0
    assert lab.seconds == loop.DRAW_BOX_S + loop.CHECK_TARGET_S + loop.REVIEW_TARGET_S == 25
    assert lab.manual_seconds == 4 * loop.MANUAL_SLICE_S + loop.REVIEW_TARGET_S == 130
    assert np.array_equal(lab.produced, truth)


def test_the_annotator_redraws_wrong_slices_and_keeps_the_models_mask_elsewhere():
    truth = _target()
    pred = truth.copy()
    pred[1, 5:15, 14] = 0  # slice 1: one column short, Dice 0.947, left as it is
    pred[2] = 0  # slice 2 missed: drawn from scratch
    pred[3, 5:15, 5:15] = 0
    pred[3, 5:15, 8:15] = 1  # slice 3: Dice 0.82, corrected
    pred[5, 0:3, 0:3] = 1  # slice 5: a stray blob, erased
    lab = loop.annotate(pred, truth, 0.9)
    assert lab.redrawn == 3
    assert lab.seconds == 25 + loop.MANUAL_SLICE_S + 2 * loop.CORRECT_SLICE_S
    assert np.array_equal(lab.produced[1], pred[1])  # what they accepted is what they submit
    assert np.array_equal(lab.produced[2:], truth[2:])
    assert 0.9 < float(lab.produced.sum()) / truth.sum() < 1.0


def test_figures_sum_seconds_over_targets():
    class P:
        def __init__(self, kind):
            self.kind = kind

    truth = _target()
    good = loop.annotate(truth.copy(), truth, 0.9)
    empty = loop.annotate(np.zeros_like(truth), truth, 0.9)
    out = loop.figures([P("ct"), P("mr")], [good, empty])
    assert out["cost_by_kind"] == {"ct": round(25 / 130, 4), "mr": round((25 + 120) / 130, 4)}
    assert out["cost_vs_manual"] == round((25 + 145) / 260, 4)
    assert out["accepted_unchanged"] == 0.5 and out["dice_by_kind"] == {"ct": 1.0, "mr": 0.0}


def test_the_bench_splits_with_the_products_strata_and_keeps_sides():
    _, _, assign_sides, policy, _, _, _ = loop._django()
    pool = make_phantoms(KINDS, 24, seed=loop.cohort_seeds(0)["pool"])
    first = [(i + 1, p, p.mask) for i, p in enumerate(pool[:12])]
    sides = assign_sides([c for c, _, _ in first], {},
                         policy["heldout_fraction"], loop.strata(first))  # fmt: skip
    for kind in KINDS:  # every kind trains, and is held out once it has two cases
        on = [sides[c] for c, p, _ in first if p.kind == kind]
        assert "train" in on and ("heldout" in on or len(on) < 2), (kind, on)
    both = first + [(i + 1, p, p.mask) for i, p in enumerate(pool[12:], start=12)]
    later = assign_sides([c for c, _, _ in both], sides,
                         policy["heldout_fraction"], loop.strata(both))  # fmt: skip
    assert {c: later[c] for c in sides} == sides  # a case keeps its side


def test_the_bench_pseudo_labels_as_the_product_picks_them():
    pool = make_phantoms(KINDS, 12, seed=loop.cohort_seeds(0)["pool"])
    # Masks and doubts already known (as the uncertainty order has them): no model is run.
    known = {i: (p.mask, 0.05 * i if i % 3 else -1.0) for i, p in enumerate(pool)}
    figures = {"ct": {"dice": 0.95}, "mr": {"dice": 0.5}, "echo": {"dice": 0.92}}
    remaining = list(range(2, 12))
    chosen = loop.pseudo_labels(None, pool, remaining, figures, 2, 0.9, known)
    picked = [i for i, _ in chosen]
    for kind in ("ct", "echo"):  # trusted: the two surest of the remaining, unknown doubt last
        rows = sorted((known[i][1] < 0, known[i][1], i) for i in remaining if pool[i].kind == kind)
        assert [i for i in picked if pool[i].kind == kind] == sorted(i for *_, i in rows[:2])
    assert not [i for i in picked if pool[i].kind == "mr"]  # 0.5 < 0.9: not trusted
    assert all(m is known[i][0] for i, m in chosen)  # production's own masks
    assert loop.pseudo_labels(None, pool, remaining, figures, 0, 0.9, known) == []
    assert loop.pseudo_labels(None, pool, remaining, figures, 2, 0.99, known) == []


def test_the_bench_checks_for_forgetting_as_the_product_does(monkeypatch):
    from annotator.modelops.rounds import pick_check

    pool = make_phantoms(KINDS, 18, seed=loop.cohort_seeds(0)["pool"])

    # Models stand in as functions of the phantom: production finds every object (and flags
    # its echo masks of odd index), the candidate loses the CT ones of even index.
    def segment(model, p, with_doubt=False):
        mask, flagged = model(p)
        flags = [{"code": "empty" if not mask.any() else "area_jump"}] if flagged else []
        return loop.Segmented(mask, 0.2 if with_doubt else None, flags if with_doubt else None)

    monkeypatch.setattr(loop, "_segment", segment)
    lost = {i for i, p in enumerate(pool) if p.kind == "ct" and i % 2 == 0}
    flagged = {i for i, p in enumerate(pool) if p.kind == "echo" and i % 2 == 1}
    index = {id(p): i for i, p in enumerate(pool)}

    def production(p):
        return p.mask, index[id(p)] in flagged

    def candidate(p):  # its empty masks flagged, as inference.qc flags them: not disputed
        gone = index[id(p)] in lost
        return (np.zeros_like(p.mask) if gone else p.mask), gone

    # MR (0.79) is below the check's bar of 0.8; echo (0.85) is checked though below the
    # pseudo-labels' 0.9.
    figures = {"ct": {"dice": 0.95}, "mr": {"dice": 0.79}, "echo": {"dice": 0.85}}
    remaining, taken = list(range(18)), {0, 1}
    check = loop.forgetting_check(production, candidate, pool, remaining, figures, taken, 3, 0.8)
    rows = [(i + 1, pool[i].kind, None) for i in remaining if pool[i].kind in ("ct", "echo")]
    picked = pick_check(rows, {1, 2}, 3, loop.PROJECT_ID)  # case id = pool index + 1
    kept = [cid for cid in picked if cid - 1 not in flagged]
    assert len(kept) < len(picked)  # these seeds: a flagged echo mask among the picked
    assert sorted(t["target"] for t in check["targets"]) == kept
    assert {t["kind"] for t in check["targets"]} == {"ct", "echo"}  # MR is below the bar
    ct = [cid - 1 for cid in picked if pool[cid - 1].kind == "ct"]
    assert 0 < len(lost & set(ct)) < 3  # these seeds: the check holds lost and kept lesions
    assert check["kinds"]["ct"] == {
        "n": 3, "lost": len(lost & set(ct)), "disputed": 0,
        "agreement": round(1 - len(lost & set(ct)) / 3, 4),
    }  # fmt: skip
    assert check["kinds"]["echo"] == {
        "n": len(kept) - 3, "lost": 0, "disputed": 0, "agreement": 1.0
    }  # fmt: skip
    # What the bench alone knows, for studying the check: both masks against the truth.
    for row in check["targets"]:
        gone = row["target"] - 1 in lost
        assert (row["production_dice"], row["candidate_dice"]) == (1.0, 0.0 if gone else 1.0)
        assert row["candidate_flags"] == (["empty"] if gone else [])
    above = loop.forgetting_check(production, candidate, pool, remaining, figures, taken, 3, 0.9)
    assert {t["kind"] for t in above["targets"]} == {"ct"}  # a higher bar: echo not checked
    assert loop.forgetting_check(production, candidate, pool, remaining, figures, taken, 0,
                                 0.8)["targets"] == []  # fmt: skip


def test_the_bench_orders_its_queue_as_the_product_does():
    from annotator.cases.ordering import in_sample, queue_order

    pool = make_phantoms(KINDS, 12, seed=loop.cohort_seeds(0)["pool"])
    scored = {i: (None, 0.9 if p.kind == "mr" else 0.07 * i if i % 5 else -1.0)
              for i, p in enumerate(pool)}  # fmt: skip
    remaining = list(range(1, 12))
    strict = loop.queue("uncertainty", remaining, pool, scored, 0.0)
    assert strict == sorted(remaining, key=lambda i: (-scored[i][1], i))  # no sample
    rows = [(i + 1, pool[i].kind, None if scored[i][1] < 0 else scored[i][1]) for i in remaining]
    for order in ("uncertainty", "balanced"):  # case id = pool index + 1
        picked = loop.queue(order, remaining, pool, scored, 0.2)
        assert picked == [cid - 1 for cid in queue_order(rows, order, 0.2)]
        assert sorted(picked) == remaining
        unknown = sum(scored[i][1] < 0 for i in remaining)
        assert unknown and all(scored[i][1] < 0 for i in picked[-unknown:])  # unknown doubt last
    sampled = [i for i in remaining if scored[i][1] >= 0 and in_sample(i + 1, 0.2)]
    assert sampled  # the evaluation sample is served in import order, whatever the doubt
    assert [i for i in loop.queue("uncertainty", remaining, pool, scored, 0.2)
            if i in sampled] == sampled  # fmt: skip
    kinds = [pool[i].kind for i in loop.queue("balanced", remaining, pool, scored, 0.2)[:3]]
    assert sorted(kinds) == sorted(KINDS)  # every kind in the first three


def test_the_bench_writes_each_rounds_queue_with_doubts_flags_and_what_it_took(tmp_path):
    import json

    pool = make_phantoms(KINDS, 6, seed=loop.cohort_seeds(0)["pool"])
    off_box = [{"code": "off_box", "message": "outside the box"}]
    scored = {0: loop.Segmented(None, 0.4, []), 3: loop.Segmented(None, -1.0, off_box),
              5: loop.Segmented(None, 0.9, [])}  # fmt: skip
    path = tmp_path / "uncertainty-round-0.queue.json"
    loop.write_queue(path, pool, scored, picked=[5])
    rows = json.loads(path.read_text())
    assert [r["case"] for r in rows] == [1, 4, 6]  # case id = pool index + 1, in import order
    assert [r["kind"] for r in rows] == [pool[i].kind for i in (0, 3, 5)]
    assert [r["doubt"] for r in rows] == [0.4, None, 0.9]  # unknown doubt as the product keeps it
    assert [r["flags"] for r in rows] == [[], ["off_box"], []]
    assert [r["picked"] for r in rows] == [False, False, True]


def test_the_round_bench_says_what_it_trained_on_per_kind_and_appearance():
    import loop_round

    from inference.replay import appearance

    ct = make_phantoms(["ct"], 4, seed=3_990)
    rows = [(p, p.mask, "accepted") for p in ct[:2]]
    rows += [(ct[2], ct[2].mask, "pseudo"), (ct[3], np.zeros_like(ct[3].mask), "pseudo")]
    trained = loop_round.trained_on(rows)
    looks = [appearance(p.image, p.mask) for p in ct]
    assert looks[3] not in looks[:3]  # these seeds: three darker lesions, then a brighter one
    assert sum(r["accepted"] + r["pseudo"] for r in trained.values()) == 4
    assert sum(r["pseudo"] for r in trained.values()) == 2
    empty = trained[f"ct/{looks[3]}"]  # the empty pseudo-label pulls its group's label Dice down
    assert empty["label_dice"] < 1.0
    assert trained[f"ct/{looks[0]}"] == {"accepted": 2, "pseudo": 1, "label_dice": 1.0}


def test_a_round_row_gives_one_candidate_as_is_and_a_model_per_kind_per_kind():
    def outcome(name: str, promoted: bool, dice: float) -> dict:
        return {"name": name, "model": f"{name}.pt", "promoted": promoted, "gate": f"{name} gate",
                "trained_on": 4, "held_out": 2, "pseudo": 3, "groups": {}, "check": {},
                "cohort": {"dice_by_kind": {"ct": dice}, "cost_vs_manual": 1 - dice,
                           "mean_dice": dice}}  # fmt: skip

    one = loop.candidate_fields({"all": outcome("all", True, 0.9)}, per_kind=False)
    assert (one["promoted"], one["gate"], one["pseudo"]) == (True, "all gate", 3)
    assert one["candidate"] == {"dice_by_kind": {"ct": 0.9}, "cost_vs_manual": pytest.approx(0.1)}
    tried = {"ct": outcome("ct", False, 0.8), "echo": outcome("echo", True, 0.95)}
    each = loop.candidate_fields(tried, per_kind=True)
    assert each["promoted"] == {"ct": False, "echo": True}
    assert each["gate"] == {"ct": "ct gate", "echo": "echo gate"} and each["pseudo"] == 6
    assert each["candidate"]["echo"]["dice_by_kind"] == {"ct": 0.95}
    with pytest.raises(ValueError):  # one candidate per round unless per kind
        loop.candidate_fields(tried, per_kind=False)


def test_a_kind_with_too_few_accepted_cases_makes_no_round_as_in_the_product():
    """Uncertainty order can leave echo, which the CT-only start misses with confidence, out of
    the first batch: that kind then makes no round (the product's not_enough_data)."""
    from annotator.modelops.rounds import MIN_ROUND_CASES

    assert loop._django()[6] == MIN_ROUND_CASES == 2
    skipped = loop.no_round(["echo"], True, "start.pt", 0, MIN_ROUND_CASES)
    assert skipped["model"] == "start.pt" and skipped["promoted"] is False
    assert skipped["gate"] == "no round: accepted masks from 0 case(s), a round needs 2"
    skipped["cohort"] = {"dice_by_kind": {"echo": 0.01}, "cost_vs_manual": 0.99}
    row = loop.candidate_fields({"echo": skipped}, per_kind=True)
    assert row["promoted"] == {"echo": False} and row["trained_on"] == {"echo": 0}


def test_the_study_runs_the_products_default_policy_with_the_same_compute_per_round():
    from annotator.modelops.models import RoundPolicy

    default = loop.arguments([])
    assert default.per_kind is RoundPolicy._meta.get_field("per_kind").default is True
    assert (default.steps, default.rounds) == (600, 4)  # 3 candidates x 600 = one shared round
    shared = loop.arguments(["--no-per-kind"])
    assert (shared.per_kind, shared.steps) == (False, loop.ROUND_STEPS)
    assert loop.arguments(["--steps", "900"]).steps == 900
    with pytest.raises(SystemExit):
        loop.arguments(["--steps", "many"])
