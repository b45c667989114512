"""inference.sam2_adapter: the version pin, the in-memory state, per-frame and training tracking."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch

from bench.reference import reference_segment
from inference import sam2_adapter
from inference.model import TINY_TEST, build_model
from inference.preprocess import OFFICIAL, ModelFrames, to_uint8
from inference.sam2_adapter import (
    PINNED_VERSION,
    STATE_KEYS,
    Sam2VersionError,
    VideoSession,
    blanked,
    check_version,
    new_inference_state,
    track_clip,
)
from inference.tracking import FeatureCache, FrameRange
from tests.inference.conftest import ct_volume, lesion_box

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def installed(monkeypatch):
    """Pretend another rf-sam-2 (a version string, or None: not installed) is installed."""

    def pretend(version: str | None) -> None:
        def lookup(name: str) -> str:
            if version is None:
                raise importlib.metadata.PackageNotFoundError(name)
            return version

        monkeypatch.setattr(sam2_adapter.importlib.metadata, "version", lookup)
        check_version.cache_clear()

    yield pretend
    check_version.cache_clear()


def test_the_pin_is_the_one_in_requirements_and_is_installed():
    requirements = (ROOT / "requirements.txt").read_text()
    assert re.search(rf"^rf-sam-2=={re.escape(PINNED_VERSION)}\s*$", requirements, re.M)
    assert check_version() == PINNED_VERSION


def test_another_release_is_refused_at_first_use(installed, present_model):
    installed("1.0.4")
    with pytest.raises(Sam2VersionError, match=r"rf-sam-2 1\.0\.4 .* for 1\.0\.3"):
        check_version()
    frames = FrameRange(ModelFrames(np.zeros((2, 32, 32), np.uint8), 128), 0, 2)
    cache = FeatureCache(present_model.model, frames, present_model.device)
    with pytest.raises(Sam2VersionError):
        VideoSession(present_model.model, frames, 32, 32, present_model.device, cache)
    with pytest.raises(Sam2VersionError):
        track_clip(present_model.model, torch.zeros(1, 1, 3, 128, 128), torch.zeros(1, 4))


def test_a_missing_wheel_is_refused(installed):
    installed(None)
    with pytest.raises(Sam2VersionError, match="not installed"):
        check_version()


def test_new_state_has_the_keys_of_stock_init_state(present_model):
    frames = ModelFrames(np.zeros((3, 32, 32), np.uint8), present_model.image_size)
    images = frames.as_tensor()
    loader = "sam2.sam2_video_predictor.load_video_frames"
    with mock.patch(loader, lambda **_: (images, 32, 32)):
        stock = present_model.model.init_state("in-memory")
    range_ = FrameRange(frames, 0, 3)
    cache = FeatureCache(present_model.model, range_, present_model.device)
    ours = new_inference_state(range_, 32, 32, present_model.device, cache)
    assert set(ours) == set(stock) == set(STATE_KEYS)
    for key in set(stock) - {"images", "cached_features"}:
        assert type(ours[key]) is type(stock[key]) or key == "device", key


def test_a_session_tracks_frame_by_frame_as_stock_propagation(present_model):
    volume = ct_volume((8, 64, 64))
    frames = ModelFrames(to_uint8(volume, "CT", rule=OFFICIAL), present_model.image_size)
    key, box = 4, lesion_box((8, 64, 64))
    _, stock = reference_segment(present_model, volume, "CT", key, box, keep_logits=True)
    images = FrameRange(frames, 0, len(frames))
    model, device = present_model.model, present_model.device
    with torch.inference_mode():
        session = VideoSession(
            model, images, 64, 64, device, FeatureCache(model, images, device, keep_recent=8)
        )
        session.add_points_or_box(key, None, None, torch.tensor(box))
        session.start()
        for name, order in (("forward", range(key, 8)), ("reverse", range(key, -1, -1))):
            session.restart()
            for frame in order:
                logits = session.track(frame, reverse=name == "reverse")
                assert logits.shape == (64, 64)
                np.testing.assert_allclose(logits.float().numpy(), stock[name][frame], atol=1e-4)


def test_track_clip_carries_memory_from_the_prompted_frame():
    torch.manual_seed(0)
    model = build_model(TINY_TEST, training=True)
    frames = torch.randn(3, 2, 3, 128, 128)  # 3 frames, batch of 2
    boxes = torch.tensor([[20.0, 20.0, 60.0, 70.0], [30.0, 10.0, 90.0, 50.0]])

    def run(clip_boxes: torch.Tensor):
        torch.manual_seed(1)  # the same dropout draws for every run
        return track_clip(model, frames, clip_boxes)

    outs = run(boxes)
    assert len(outs) == 3
    high_multi, ious, obj_logits = outs[1]
    assert high_multi.shape[:2] == ious.shape and high_multi.shape[0] == 2
    assert high_multi.shape[-2:] == (128, 128) and obj_logits.shape == (2, 1)
    assert high_multi.requires_grad
    # Frame 1 is not prompted: what it predicts comes through the memory of frame 0's box.
    assert torch.equal(run(boxes)[1][0], outs[1][0])
    moved = run(boxes + 30.0)
    assert not torch.allclose(outs[1][0], moved[1][0])


def test_the_predicted_iou_trains_the_iou_head_alone():
    torch.manual_seed(0)
    model = build_model(TINY_TEST, training=True)
    frames = torch.randn(2, 1, 3, 128, 128)
    boxes = torch.tensor([[20.0, 20.0, 60.0, 70.0]])
    head = model.sam_mask_decoder.iou_prediction_head
    params = dict(model.named_parameters())

    def grads(pick: int) -> dict[str, torch.Tensor | None]:
        model.zero_grad(set_to_none=True)
        outs = track_clip(model, frames, boxes)
        sum(out[pick].float().sum() for out in outs).backward()
        return {name: p.grad for name, p in params.items()}

    from_iou = grads(1)
    head_names = {f"sam_mask_decoder.iou_prediction_head.{n}" for n, _ in head.named_parameters()}
    moved = {n for n, g in from_iou.items() if g is not None and g.abs().sum() > 0}
    assert moved and moved <= head_names  # the head learns; nothing the masks come from moves
    from_masks = grads(0)
    assert any(
        g is not None and g.abs().sum() > 0
        for n, g in from_masks.items()
        if n.startswith(("sam_mask_decoder.transformer.", "image_encoder."))
    )
    assert not head._forward_pre_hooks  # the detach lasts for the tracking only


def test_blanked_masks_are_those_sam2_set_to_its_no_object_logit():
    logits = torch.randn(2, 3, 8, 8)
    logits[1] = -1024.0  # what sam2 writes when the object head calls the frame empty
    logits[0, 2, 0, 0] = -1024.0  # one pixel that low is not a blanked mask
    assert blanked(logits).tolist() == [[False, False, False], [True, True, True]]
