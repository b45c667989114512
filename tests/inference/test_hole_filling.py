"""sam2's hole filling, run without its CUDA extension (inference.sam2_adapter)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from inference.engine import Prompt, segment_volume
from inference.sam2_adapter import connected_components, enable_hole_filling
from tests.inference.conftest import ct_volume, lesion_box

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _logits_with_holes(device: str) -> torch.Tensor:
    """Foreground (logit 2) with background holes of 8 and 9 pixels (logit -3)."""
    scores = torch.full((1, 1, 20, 20), 2.0)
    scores[0, 0, 2:4, 2:6] = -3.0  # 8 px
    scores[0, 0, 10:13, 10:13] = -3.0  # 9 px
    scores[0, 0, 15:17, 2:4] = -3.0  # 4 px ...
    scores[0, 0, 17:19, 4:6] = -3.0  # ... and 4 px touching it at a corner: one 8 px hole
    return scores.to(device)


@pytest.mark.parametrize("device", DEVICES)
def test_connected_components_match_the_extensions_contract(device):
    mask = _logits_with_holes(device) <= 0
    labels, areas = connected_components(mask)
    assert labels.device.type == areas.device.type == device
    assert labels.dtype == areas.dtype == torch.int32 and labels.shape == mask.shape
    labels, areas = labels.cpu().numpy()[0, 0], areas.cpu().numpy()[0, 0]
    assert len(np.unique(labels[labels > 0])) == 3  # 8-connected: the corner pair is one
    assert (areas[2:4, 2:6] == 8).all() and (areas[10:13, 10:13] == 9).all()
    assert (areas[15:17, 2:4] == 8).all() and (areas[17:19, 4:6] == 8).all()
    assert (labels[~mask.cpu().numpy()[0, 0]] == 0).all() and areas[0, 0] == 0


@pytest.mark.parametrize("device", DEVICES)
def test_sam2_fills_holes_up_to_8_pixels(device):
    from sam2.utils.misc import fill_holes_in_mask_scores

    enable_hole_filling()
    scores = _logits_with_holes(device)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the stock fallback warns and skips
        filled = fill_holes_in_mask_scores(scores, 8)[0, 0].cpu()
    expected = scores[0, 0].cpu().clone()
    expected[2:4, 2:6] = 0.1  # 8 px: a hole
    expected[15:17, 2:4] = expected[17:19, 4:6] = 0.1  # 4 + 4 px, 8-connected: a hole
    assert torch.equal(filled, expected)  # the 9 px region stays background
    assert torch.equal(fill_holes_in_mask_scores(scores, 9)[0, 0, 10:13, 10:13].cpu(),
                       torch.full((3, 3), 0.1))  # fmt: skip


def test_the_engine_runs_the_filling_without_the_fallback_warning(present_model):
    assert present_model.model.fill_hole_area == 8  # the stock video builder's setting
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        segment_volume(present_model, ct_volume((6, 64, 64)), "CT", [Prompt(3, box=lesion_box())])
    assert not [w for w in caught if "Skipping the post-processing" in str(w.message)]
