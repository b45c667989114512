"""Model building from our configs (inference.model)."""

from inference.model import MEDSAM2, STARTER, build_model


def test_starter_turns_off_the_stability_fallback_to_untrained_mask_tokens():
    assert build_model(STARTER).sam_mask_decoder.dynamic_multimask_via_stability is False
    medsam2 = build_model(MEDSAM2).sam_mask_decoder  # published weights: stock behaviour
    assert medsam2.dynamic_multimask_via_stability is True
    assert medsam2.dynamic_multimask_stability_thresh == 0.98
