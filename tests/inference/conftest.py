"""Tiny random-weight models for the inference tests (config tiny_test, input 128, seeded)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inference.checkpoint import LoadedModel, load_checkpoint, save_checkpoint
from inference.model import TINY_TEST, build_model
from inference.sam2_adapter import pin_object_score


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    # The CI box has 2 cores shared with other jobs; tiny models run fastest on one thread.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def tiny_model(seed: int = 0, object_bias: float | None = None) -> torch.nn.Module:
    """A seeded random tiny_test video predictor.

    Fresh random weights give mask logits within +-0.2 of zero, so masks are all empty; scaling
    the mask hypernetworks gives masks with structure. ``object_bias`` pins the object-score
    head: large positive = object always present, large negative = always absent.
    """
    torch.manual_seed(seed)
    model = build_model(TINY_TEST)
    with torch.no_grad():
        for param in model.sam_mask_decoder.output_hypernetworks_mlps.parameters():
            param.mul_(8.0)
    if object_bias is not None:
        pin_object_score(model, object_bias)
    return model.eval()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> tuple[str, str]:
    """(path, sha256) of a saved tiny_test checkpoint."""
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    digest = save_checkpoint(tiny_model(seed=0), path)
    return str(path), digest


@pytest.fixture(scope="session")
def present_model(tmp_path_factory) -> LoadedModel:
    """Loaded through the checkpoint path; the object is always 'present' (masks non-empty)."""
    path = tmp_path_factory.mktemp("present") / "present.pt"
    save_checkpoint(tiny_model(seed=0, object_bias=8.0), path)
    return load_checkpoint(path, TINY_TEST, device="cpu")


@pytest.fixture(scope="session")
def absent_model() -> LoadedModel:
    """The object score is always negative: only mask prompts give non-empty masks."""
    model = tiny_model(seed=1, object_bias=-20.0)
    return LoadedModel(model, TINY_TEST, "0" * 64, torch.device("cpu"), int(model.image_size))


def ct_volume(shape=(12, 64, 64), seed: int = 0) -> np.ndarray:
    """Noisy soft tissue (HU) with a bright box lesion around the middle slice."""
    rng = np.random.default_rng(seed)
    volume = rng.normal(40.0, 20.0, shape).astype(np.float32)
    d, h, w = shape
    volume[d // 2 - 2 : d // 2 + 3, h // 4 : h // 2, w // 3 : 2 * w // 3] += 150.0
    return volume


def lesion_box(shape=(12, 64, 64)) -> tuple[float, float, float, float]:
    _, h, w = shape
    return (float(w // 3), float(h // 4), float(2 * w // 3), float(h // 2))
