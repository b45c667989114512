"""The balanced queue order's plain rule (annotator.cases.ordering): the fixed draw, the key,
modalities in turn, doubtful cases likelier first, unscored cases last."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.cases.ordering import DOUBT_FLOOR, balanced_order, draw_key, lottery


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
