"""The GPU path (run by bench/gpu_check.sh on a machine with CUDA; skipped elsewhere)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn.attention import SDPBackend

import inference.checkpoint as checkpoint
from inference.checkpoint import load_checkpoint, save_checkpoint
from inference.engine import Prompt, SegmentOptions, segment_volume
from inference.metrics import dice
from inference.model import MEDSAM2, TINY_TEST, build_model
from tests.inference.conftest import ct_volume, lesion_box, tiny_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_cuda_runs_like_the_cpu_in_bf16(tmp_path):
    path = tmp_path / "present.pt"
    save_checkpoint(tiny_model(seed=0, object_bias=8.0), path)
    cpu = load_checkpoint(path, TINY_TEST, device="cpu")
    gpu = load_checkpoint(path, TINY_TEST, device="cuda")
    assert torch.get_float32_matmul_precision() == "high"  # as MedSAM2's script sets it
    volume, prompts = ct_volume((12, 64, 64)), [Prompt(6, box=lesion_box())]
    options = SegmentOptions(early_stop_patience=None)
    on_cpu = segment_volume(cpu, volume, "CT", prompts, options)
    on_gpu = segment_volume(gpu, volume, "CT", prompts, options)
    assert on_gpu.any() and dice(on_gpu, on_cpu) >= 0.9  # bf16 moves near-zero logits only


def test_medsam2_runs_with_the_official_attention_kernels_alone(monkeypatch):
    # Flash only, no math fallback: every attention call of Hiera-T 512 must take it.
    monkeypatch.setattr(
        checkpoint, "official_attention_kernels", lambda: [SDPBackend.FLASH_ATTENTION]
    )
    torch.manual_seed(0)
    model = build_model(MEDSAM2, "cuda").eval()
    loaded = checkpoint.LoadedModel(model, MEDSAM2, "random", torch.device("cuda"), 512)
    volume = np.random.default_rng(0).normal(40, 30, (6, 256, 256)).astype(np.float32)
    mask = segment_volume(loaded, volume, "CT", [Prompt(3, box=(90, 90, 160, 160))])
    assert mask.shape == volume.shape
