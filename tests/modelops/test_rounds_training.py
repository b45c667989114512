"""A real fine-tuning round (tiny config, CPU): a weak model gets better; the gate decides."""

import pytest

from annotator.modelops import evaluation, round_data, rounds
from annotator.modelops.models import RoundPolicy, RoundStatus
from annotator.registry.models import ModelStatus
from inference.replay import DECODER_LR_RATIO, OBJECT_HEAD_LR_RATIO, RECIPE_DISTILL
from inference.sam2_adapter import MASK_DECODER
from tests import factories
from tests.modelops.helpers import blob_case


@pytest.fixture
def cohort(project, people):
    return [blob_case(project, people["annotator"], people["reviewer"], seed=s) for s in range(8)]


def test_a_round_from_a_weak_model_improves_heldout_dice_and_the_gate_decides(
    project, people, cohort, tmp_path, django_capture_on_commit_callbacks
):
    # Random weights, but an object-score head that says "there", as a trained model's does: a
    # round trains the decoder, that head included, at a tenth of the rate (inference.replay).
    weak = factories.tiny_model_version(tmp_path, project=project, object_bias=2.0)
    RoundPolicy.objects.update_or_create(
        project=project, defaults={"heldout_fraction": 0.25, "auto_promote": True}
    )
    with django_capture_on_commit_callbacks(execute=True):
        round_ = rounds.start_round(project, actor=people["admin"], steps=60, learning_rate=2e-3)
    round_.refresh_from_db()
    assert round_.status == RoundStatus.PROMOTED, round_.message
    assert round_.progress["step"] == 60 == round_.progress["total"]
    assert round_.config["trained_steps"] == 60 and round_.config["learning_rate"] == 2e-3
    # Replay with balanced sampling: every accepted training mask, each group an equal share.
    groups = round_.config["replay"]["groups"]
    assert round_.config["replay"]["balance"] == "group"
    assert DECODER_LR_RATIO == OBJECT_HEAD_LR_RATIO == 0.1  # the head's own entry is not needed
    assert round_.config["replay"]["lr_ratios"] == {MASK_DECODER: 0.1}
    assert round_.config["replay"]["distill"] == RECIPE_DISTILL == 0.0  # measured worse
    assert round_.config["replay"]["pseudo_labels"] == 0 == round_.snapshot.pseudo_count
    assert sum(g["masks"] for g in groups.values()) == round_.snapshot.train_count
    assert sum(g["share"] for g in groups.values()) == pytest.approx(1.0, abs=1e-3)
    assert len({g["share"] for g in groups.values()}) == 1, groups
    cand, prod = round_.metrics["candidate"], round_.metrics["production"]
    heldout = {e.case_id for e in round_.snapshot.entries.filter(split="heldout")}
    assert {t["target"] for t in cand["targets"]} == {t.pk for c, t, _ in cohort if c.pk in heldout}
    assert cand["summary"]["dice"] >= prod["summary"]["dice"] + 0.25, round_.metrics
    assert round_.metrics["gate"]["passed"]
    candidate = round_.candidate
    candidate.refresh_from_db()
    weak.refresh_from_db()
    assert candidate.parent == weak and candidate.round_number == 1
    assert candidate.status == ModelStatus.PRODUCTION and weak.status == ModelStatus.RETIRED

    # The same held-out cases with the roles swapped: the weak model as the candidate fails.
    examples = round_data.examples(round_.snapshot, "heldout")
    swapped = evaluation.evaluate_models(
        {"candidate": weak, "production": candidate}, examples, 2.0
    )
    passed, reason = evaluation.gate(swapped, 0.02)
    assert not passed and ("Dice fell" in reason or "does not beat" in reason)
