"""bench/gate_noise.py's pure parts: the odds that k held-out targets show a fall beyond the
allowance, exact where every subset can be listed, and which verdict counts as wrong."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import gate_noise  # noqa: E402


def test_refusal_odds_count_the_subsets_whose_mean_falls_beyond_the_allowance():
    changes = np.array([-0.1, 0.0, 0.0, 0.0])  # one target of four fell 0.1
    assert gate_noise.refusal_odds(changes, 1, 0.02) == 0.25  # that one drawn alone
    assert gate_noise.refusal_odds(changes, 2, 0.02) == 0.5  # 3 of the 6 pairs hold it (-0.05)
    assert gate_noise.refusal_odds(changes, 4, 0.02) == 1.0  # the mean, -0.025
    assert gate_noise.refusal_odds(changes, 4, 0.03) == 0.0
    assert gate_noise.refusal_odds(np.zeros(5), 3, 0.0) == 0.0  # "below", not "at"
    with pytest.raises(ValueError):
        gate_noise.refusal_odds(changes, 5, 0.02)
    with pytest.raises(ValueError):
        gate_noise.refusal_odds(changes, 0, 0.02)


def test_drawn_odds_agree_with_the_exact_count():
    changes = np.random.default_rng(3).normal(-0.01, 0.05, size=30)
    exact = gate_noise.refusal_odds(changes, 3, 0.02, draws=10**6)  # C(30, 3) = 4,060 listed
    drawn = gate_noise.refusal_odds(changes, 3, 0.02, draws=4_000, seed=1)
    assert 0.05 < exact < 0.95 and abs(drawn - exact) < 0.03
    assert gate_noise.refusal_odds(changes, 3, 0.02, draws=4_000, seed=1) == drawn  # fixed


def test_a_wrong_verdict_is_a_refusal_within_the_allowance_and_a_pass_beyond_it():
    within = np.array([-0.1, 0.0, 0.0, 0.0, 0.0, 0.05])  # mean -0.0083: should pass
    refuse, wrong, needed = gate_noise.verdicts(within, [1, 2, 3], 0.02, 10_000, 0.2)
    assert wrong == refuse  # every refusal is wrong
    assert refuse[1] == pytest.approx(1 / 6, abs=1e-4) and needed == 1
    beyond = np.array([-0.05, -0.05, -0.05, 0.0])  # mean -0.0375: should be refused
    refuse, wrong, needed = gate_noise.verdicts(beyond, [1, 2], 0.02, 10_000, 0.1)
    assert refuse == {1: 0.75, 2: 1.0} and wrong == {1: 0.25, 2: 0.0} and needed == 2
    _, _, none = gate_noise.verdicts(beyond, [1], 0.02, 10_000, 0.1)
    assert none is None


def test_the_bench_refuses_what_it_cannot_measure(tmp_path, capsys):
    model = tmp_path / "model.pt"
    model.write_bytes(b"not read: the arguments are refused first")
    missing = str(tmp_path / "missing.pt")
    cases = [
        (["--production", missing, "--candidate", str(model)], "no checkpoint"),
        (["--production", str(model), "--candidate", str(model), "--seed", "1000"], "--seed"),
        (["--production", str(model), "--candidate", str(model), "--count", "1"], "--count"),
        (["--production", str(model), "--candidate", str(model), "--count", "8",
          "--sizes", "5", "6"], "no --sizes"),
    ]  # fmt: skip
    for argv, message in cases:
        with pytest.raises(SystemExit) as refused:
            gate_noise.main(argv)
        assert refused.value.code == 2 and message in capsys.readouterr().err


def test_changes_per_appearance_count_the_lesions_lost():
    changes = np.array([-0.5, 0.0, -0.1, 0.02, -0.3])
    looks = ["darker", "brighter", "darker", "brighter", "darker"]
    assert gate_noise.by_appearance(changes, looks) == {
        "brighter": {"n": 2, "change": 0.01, "lost_over_0.2": 0},
        "darker": {"n": 3, "change": -0.3, "lost_over_0.2": 2},
    }


def test_agreement_counts_the_targets_the_candidate_moves_away_from_production():
    agreement = np.array([0.95, 0.1, 0.3, 0.9, 0.4])  # the candidate's Dice against production's
    changes = np.array([0.0, -0.6, 0.5, -0.25, -0.05])  # and its change against the truth
    assert gate_noise.agreement_figures(agreement, changes, 0.5) == {
        "mean": 0.53, "under_0.5": 3, "of_them_lost": 1, "of_them_gained": 1, "lost_not_seen": 1,
    }  # fmt: skip
    assert gate_noise.agreement_figures(agreement, changes, below=0.2)["under_0.2"] == 1
