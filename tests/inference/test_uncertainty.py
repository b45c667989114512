"""inference.qc.uncertainty on constructed scores and flags: the documented formula, its
bounds, and that every piece of evidence can only raise it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from inference import qc


@dataclass
class S:
    iou: float | None
    object_score: float | None = None


def flag(code: str) -> dict:
    return {"code": code, "slices": [], "detail": ""}


def test_nothing_known_is_none():
    assert qc.uncertainty(None, None) is None
    assert qc.uncertainty({}, []) is None
    # a mask-prompted frame carries no prediction
    assert qc.uncertainty({3: S(None, None)}, []) is None


def test_one_minus_mean_iou_over_the_masks_frames():
    scores = {0: S(0.9), 1: S(0.7), 2: S(0.2)}
    assert qc.uncertainty(scores, []) == pytest.approx(1 - 0.6, abs=1e-4)
    # frames outside the mask are not counted
    assert qc.uncertainty(scores, [], frames=[0, 1]) == pytest.approx(1 - 0.8, abs=1e-4)
    # predicted IoU outside [0, 1] (an untrained head) is clipped
    assert qc.uncertainty({0: S(1.7), 1: S(-0.3)}, []) == pytest.approx(0.5, abs=1e-4)


def test_a_low_object_score_raises_it():
    sure = qc.uncertainty({0: S(0.8, 6.0)}, [])
    doubtful = qc.uncertainty({0: S(0.8, -2.0)}, [])
    expected = 1 - 0.8 * (1 / (1 + math.exp(2.0)))
    assert doubtful == pytest.approx(expected, abs=1e-4)
    assert sure < 0.21 < doubtful


def test_flags_raise_it_as_a_noisy_or():
    base = {0: S(0.9), 1: S(0.9)}
    plain = qc.uncertainty(base, [])
    border = qc.uncertainty(base, [flag("border")])
    both = qc.uncertainty(base, [flag("border"), flag("area_jump")])
    assert plain < border < both < 1
    assert border == pytest.approx(1 - 0.9 * (1 - qc.FLAG_WEIGHTS["border"]), abs=1e-4)
    # an empty mask is certainly wrong, whatever the model thought
    assert qc.uncertainty(base, [flag("empty")]) == 1.0
    # flags alone, without scores
    assert qc.uncertainty(None, [flag("off_box")]) == pytest.approx(0.6, abs=1e-4)
    # an unknown (newer) flag code still counts
    assert qc.uncertainty(base, [flag("something_new")]) > plain


def test_disagreement_between_directions_raises_it():
    base = {0: S(0.9)}
    assert qc.uncertainty(base, [], disagreement=0.5) == pytest.approx(1 - 0.9 * 0.5, abs=1e-4)
    assert qc.uncertainty(None, None, disagreement=0.0) == 0.0
    assert qc.uncertainty(base, [], disagreement=2.0) == 1.0  # clipped


def test_always_within_bounds():
    for iou in (-1.0, 0.0, 0.3, 1.0, 2.0):
        for obj in (None, -50.0, 0.0, 50.0):
            for flags in ([], [flag("empty")], [flag(c) for c in qc.CODES]):
                u = qc.uncertainty({0: S(iou, obj)}, flags)
                assert 0.0 <= u <= 1.0


def test_assess_adds_the_directions_disagreement():
    mask = np.zeros((6, 16, 16), np.uint8)
    mask[1:5, 4:12, 4:12] = 1
    scores = {z: S(0.9, 8.0) for z in range(1, 5)}
    box = (4, 4, 12, 12)
    _, alone = qc.assess(mask, key_index=2, box=box, scores=scores)
    _, agreeing = qc.assess(mask, key_index=2, box=box, scores=scores, disagreement=0.0)
    _, split = qc.assess(mask, key_index=2, box=box, scores=scores, disagreement=0.5)
    assert alone == agreeing < split
    assert split == pytest.approx(1 - (1 - alone) * 0.5, abs=1e-3)
