"""The balanced queue order's plain rule (annotator.cases.ordering): the fixed draw, the key,
modalities in turn, doubtful cases likelier first, unscored cases last."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.cases.ordering import (
    DOUBT_FLOOR,
    balanced_order,
    draw_key,
    evaluation_draw,
    in_sample,
    lottery,
    uncertainty_order,
)


def test_the_draw_is_fixed_spread_and_inside_the_unit_interval():
    draws = [lottery(i) for i in range(1, 2001)]
    assert all(0.0 < u < 1.0 for u in draws)
    assert len(set(draws)) == len(draws)
    assert draws == [lottery(i) for i in range(1, 2001)]  # the same on every call
    assert np.mean(draws) == pytest.approx(0.5, abs=0.02)
    # consecutive ids spread evenly: each tenth of (0, 1) holds a tenth of the draws
    counts = np.histogram(draws, bins=10, range=(0.0, 1.0))[0]
    assert counts.min() >= 180 and counts.max() <= 220


def test_more_doubt_brings_the_same_case_earlier_and_no_doubt_keeps_a_small_weight():
    assert draw_key(7, 0.9) > draw_key(7, 0.3) > draw_key(7, 0.05)
    assert draw_key(7, 0.0) == draw_key(7, DOUBT_FLOOR)
    assert draw_key(7, 0.5) < 0.0


def test_modalities_take_turns_and_unscored_cases_come_last_oldest_first():
    rows = [(i, "CT", 0.5) for i in range(1, 7)] + [(i, "MR", 0.5) for i in range(7, 10)]
    rows += [(10, "CT", None), (11, "MR", None), (12, "CT", None)]
    order = balanced_order(rows)
    assert sorted(order) == list(range(1, 13))
    kinds = {i: k for i, k, _ in rows}
    for turn in range(3):  # each turn: one case of each kind, the larger key first
        pair = order[2 * turn : 2 * turn + 2]
        assert {kinds[i] for i in pair} == {"CT", "MR"}
        assert draw_key(pair[0], 0.5) > draw_key(pair[1], 0.5)
    assert [kinds[i] for i in order[6:9]] == ["CT"] * 3  # MR has run out
    assert order[9:] == [10, 11, 12]  # no doubt known: after the rest, kinds in turn, oldest first
    assert balanced_order([]) == []


def test_doubtful_cases_come_first_more_often_and_sure_ones_still_come_early():
    rows = [(i, "CT", 0.8 if i % 2 else 0.1) for i in range(1, 1001)]
    order = balanced_order(rows)
    first = order[:100]
    doubtful = sum(i % 2 for i in first)
    # a weighted draw: 8 to 1 odds per case, so about 89% doubtful early on, not all
    assert 80 <= doubtful < 100
    assert all(i % 2 == 0 for i in order[-100:])  # the tail is sure cases
    # the same doubts in strict order would put every doubtful case first
    assert sorted(rows, key=lambda r: (-r[2], r[0]))[499][2] == 0.8


def test_the_order_follows_the_draw_within_a_modality():
    rows = [(i, "US", 0.4) for i in range(1, 21)]
    order = balanced_order(rows)
    assert order == sorted(range(1, 21), key=lambda i: -draw_key(i, 0.4))


def test_the_sample_draw_is_spread_and_says_nothing_of_the_lottery():
    ids = range(1, 2001)
    draws = [evaluation_draw(i) for i in ids]
    assert all(0.0 < u < 1.0 for u in draws) and len(set(draws)) == len(draws)
    counts = np.histogram(draws, bins=10, range=(0.0, 1.0))[0]
    assert counts.min() >= 190 and counts.max() <= 210
    assert abs(np.corrcoef(draws, [lottery(i) for i in ids])[0, 1]) < 0.02
    sampled = [i for i in ids if in_sample(i, 0.2)]
    assert len(sampled) == pytest.approx(400, abs=5)
    gaps = np.diff(sampled)  # spread over import order: no long run in or out of the sample
    assert gaps.min() >= 2 and gaps.max() <= 8
    assert not any(in_sample(i, 0.0) for i in ids)


def test_without_a_sample_uncertainty_order_is_the_most_doubtful_first():
    rows = [(i, "CT", (i * 37 % 11) / 11) for i in range(1, 30)] + [(30, "CT", None)]
    order = uncertainty_order(rows)
    assert order == sorted(range(1, 30), key=lambda i: (-(i * 37 % 11) / 11, i)) + [30]


def test_the_sample_is_served_in_import_order_at_its_share():
    rows = [(i, "CT", 1.0 - i / 1000) for i in range(1, 1001)]  # the oldest the most doubtful
    rows.reverse()  # the rule does not depend on the rows' order
    for order in (uncertainty_order(rows, 0.2), balanced_order(rows, 0.2)):
        assert sorted(order) == list(range(1, 1001))
        sampled = [i for i in order if in_sample(i, 0.2)]
        assert sampled == sorted(sampled)  # import order, whatever the doubt
        for n in (50, 100, 500):  # the sample's share of any prefix of the queue
            assert sum(in_sample(i, 0.2) for i in order[:n]) == pytest.approx(0.2 * n, abs=1)


def test_the_held_out_cases_of_a_doubt_first_queue_are_a_draw_from_the_project():
    """What the sample is for: the first 100 cases of 1000 served by doubt. Without it, the
    cases the split holds out are the most doubtful; with it, they are as doubtful as the
    project's cases are on average."""
    rng = np.random.default_rng(0)
    doubt = {i: float(d) for i, d in enumerate(rng.beta(2, 5, 1000), start=1)}
    rows = [(i, "CT", d) for i, d in doubt.items()]
    mean = np.mean(list(doubt.values()))
    strict = [i for i in uncertainty_order(rows)[:100] if in_sample(i, 0.2)]
    sampled = [i for i in uncertainty_order(rows, 0.2)[:100] if in_sample(i, 0.2)]
    assert len(sampled) == 20
    assert np.mean([doubt[i] for i in strict]) > mean + 0.2  # the hardest cases
    assert abs(np.mean([doubt[i] for i in sampled]) - mean) < 0.05
