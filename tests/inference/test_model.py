"""Model building from our configs (inference.model)."""

from inference.model import MEDSAM2, STARTER, build_model, load_config
from inference.roi import roi_context


def test_starter_turns_off_the_stability_fallback_to_untrained_mask_tokens():
    assert build_model(STARTER).sam_mask_decoder.dynamic_multimask_via_stability is False
    medsam2 = build_model(MEDSAM2).sam_mask_decoder  # published weights: stock behaviour
    assert medsam2.dynamic_multimask_via_stability is True
    assert medsam2.dynamic_multimask_stability_thresh == 0.98


def test_a_config_with_a_base_is_the_base_with_its_own_keys_over_it():
    starter, base = load_config(STARTER), load_config("starter_s128")
    assert starter.model == base.model and "base" not in starter
    assert roi_context(STARTER) == 3.0
    assert roi_context("starter_s128") is None  # its checkpoints: whole slices, as trained
