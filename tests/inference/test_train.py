"""Fine-tuning loop (tiny config, CPU): output format, resume, cancel, loss, schedule, bad input."""

import numpy as np
import pytest
import torch

from inference.checkpoint import load_checkpoint, read_state_dict, save_checkpoint
from inference.model import TINY_TEST, build_model
from inference.phantoms import make_phantoms
from inference.sam2_adapter import OBJECT_SCORE_HEAD
from inference.train import (
    RESUME_FILE,
    TrainConfig,
    TrainingError,
    TrainItem,
    lr_factor,
    train,
)
from inference.train_data import _augment, data_fingerprint
from inference.train_loss import frame_loss


def items(n=3, seed=0):
    return [
        TrainItem(p.image, p.mask, p.modality, p.window, p.label, p.is_video)
        for p in make_phantoms(["ct", "mr", "echo"], n, seed=seed, **{})
    ]


def config(**kw):
    base = dict(model_config=TINY_TEST, steps=3, clip_len=3, lr=1e-3, encoder_lr=1e-3, seed=1)
    return TrainConfig(**{**base, **kw})


def test_train_writes_an_official_checkpoint_the_loader_serves(tmp_path):
    seen = []
    result = train(items(), config(), tmp_path / "run", progress=lambda *a: seen.append(a))
    assert result.status == "finished" and result.step == 3 == result.total_steps
    assert [s[0] for s in seen] == [1, 2, 3] and all(s[1] == 3 for s in seen)
    assert len(result.history) == 3 and np.isfinite(result.final_loss)
    assert not (tmp_path / "run" / RESUME_FILE).exists()
    state = torch.load(result.model_path, weights_only=True)
    assert set(state) == {"model"}
    loaded = load_checkpoint(result.model_path, TINY_TEST)  # strict
    assert loaded.sha256


def test_training_changes_the_weights_of_every_part(tmp_path):
    start = build_model(TINY_TEST, training=True)
    init = tmp_path / "init.pt"
    save_checkpoint(start, init)
    result = train(items(), config(steps=2), tmp_path / "run", init_checkpoint=init)
    before, after = read_state_dict(init), read_state_dict(result.model_path)
    for prefix in ("image_encoder.", "sam_mask_decoder.", "memory_attention.", "memory_encoder."):
        keys = [k for k in before if k.startswith(prefix)]
        assert any(not torch.equal(before[k], after[k]) for k in keys), prefix


def test_cancel_then_resume_ends_with_the_weights_of_an_uninterrupted_run(tmp_path):
    data, cfg = items(), config(steps=4, checkpoint_every=1)
    whole = train(data, cfg, tmp_path / "whole")

    calls = iter([False, False, True])
    cut = train(data, cfg, tmp_path / "cut", should_stop=lambda: next(calls))
    assert cut.status == "cancelled" and cut.step == 2 and cut.model_path is None
    assert (tmp_path / "cut" / RESUME_FILE).exists()

    resumed = train(data, cfg, tmp_path / "cut")
    assert resumed.status == "finished" and resumed.resumed_from == 2 and resumed.step == 4
    a, b = read_state_dict(whole.model_path), read_state_dict(resumed.model_path)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert [h[0] for h in resumed.history] == [1, 2, 3, 4]


def test_lr_ratios_slow_or_freeze_the_parts_they_name(tmp_path):
    init = tmp_path / "init.pt"
    save_checkpoint(build_model(TINY_TEST, training=True), init)
    frozen = config(steps=2, lr_ratios={OBJECT_SCORE_HEAD: 0.0})
    result = train(items(), frozen, tmp_path / "run", init_checkpoint=init)
    before, after = read_state_dict(init), read_state_dict(result.model_path)
    head = [k for k in before if k.startswith(OBJECT_SCORE_HEAD)]
    assert head and all(torch.equal(before[k], after[k]) for k in head)
    rest = [k for k in before if k.startswith("sam_mask_decoder.") and k not in head]
    assert any(not torch.equal(before[k], after[k]) for k in rest)
    for bad in (-0.1, float("nan")):
        with pytest.raises(TrainingError, match="lr ratios"):
            train(items(), config(lr_ratios={"image_encoder.": bad}), tmp_path / f"bad{bad}")
    with pytest.raises(TrainingError, match="name no parameter of the model: sam_mask_decodr"):
        train(items(), config(lr_ratios={"sam_mask_decodr.": 0.1}), tmp_path / "typo")


def test_inverting_turns_a_dark_object_bright_and_off_changes_no_draw():
    frames = torch.full((2, 1, 8, 8), 200, dtype=torch.uint8)
    frames[:, :, 2:5, 2:5] = 40  # a dark object
    masks = torch.zeros(2, 8, 8, dtype=torch.bool)
    masks[:, 2:5, 2:5] = True
    off_rng, plain_rng = np.random.default_rng(3), np.random.default_rng(3)
    off, off_masks = _augment(frames, masks, off_rng, invert=0.0)
    plain, _ = _augment(frames, masks, plain_rng)
    assert torch.equal(off, plain) and off_rng.random() == plain_rng.random()
    on, on_masks = _augment(frames, masks, np.random.default_rng(3), invert=1.0)
    assert torch.allclose(on, 1.0 - off) and torch.equal(on_masks, off_masks)
    inside = on[0, 0][on_masks[0]].mean()
    assert inside > on[0, 0][~on_masks[0]].mean()  # now brighter than what surrounds it


def test_a_run_with_inversion_trains_and_has_its_own_fingerprint(tmp_path):
    result = train(items(), config(steps=2, invert=0.5), tmp_path / "run")
    assert result.status == "finished" and np.isfinite(result.final_loss)
    assert config(invert=0.5).fingerprint() != config().fingerprint()
    for bad in (-0.1, 1.5):
        with pytest.raises(TrainingError, match="invert is a probability"):
            train(items(), config(invert=bad), tmp_path / f"bad{bad}")


def test_a_changed_config_does_not_resume_someone_elses_run(tmp_path):
    data = items()
    calls = iter([False, True])
    cfg = config(steps=4, checkpoint_every=1)
    train(data, cfg, tmp_path / "run", should_stop=lambda: next(calls))
    other = train(data, config(steps=2, seed=9), tmp_path / "run")
    assert other.resumed_from == 0 and other.step == 2


def test_other_data_does_not_resume_a_run_and_the_same_data_does(tmp_path):
    data, cfg = items(), config(steps=4, checkpoint_every=1)
    calls = iter([False, True])
    train(data, cfg, tmp_path / "run", should_stop=lambda: next(calls))
    changed = [TrainItem(i.image, i.mask, i.modality, i.window, i.label, i.is_video)
               for i in data]  # fmt: skip
    changed[1].mask = changed[1].mask.copy()
    changed[1].mask[changed[1].mask.nonzero()[0][0]] = 0  # one slice of one mask less
    assert data_fingerprint(changed) != data_fingerprint(data)
    reweighted = items()
    reweighted[0].weight = 2.0  # drawn twice as often: other clips at the same step
    assert data_fingerprint(reweighted) != data_fingerprint(data)
    assert data_fingerprint(items()) == data_fingerprint(data)  # the same items, rebuilt

    calls = iter([False, True])
    other = train(changed, cfg, tmp_path / "run", should_stop=lambda: next(calls))
    assert other.resumed_from == 0 and other.step == 1  # started afresh, saved its own state
    same = train(changed, cfg, tmp_path / "run")
    assert same.resumed_from == 1 and same.step == 4


def test_a_resume_state_saved_before_the_data_fingerprint_still_resumes(tmp_path):
    data, cfg = items(), config(steps=3, checkpoint_every=1)
    calls = iter([False, True])
    train(data, cfg, tmp_path / "run", should_stop=lambda: next(calls))
    state = torch.load(tmp_path / "run" / RESUME_FILE, weights_only=False)
    del state["data"]
    torch.save(state, tmp_path / "run" / RESUME_FILE)
    assert train(data, cfg, tmp_path / "run").resumed_from == 1


def test_the_loss_is_small_for_a_right_mask_and_large_for_a_wrong_one():
    target = torch.zeros(1, 32, 32, dtype=torch.bool)
    target[0, 8:20, 10:24] = True
    good = torch.where(target, 12.0, -12.0).float().unsqueeze(1)
    bad = -good
    present = torch.tensor([[8.0]])
    parts_good = frame_loss(good, torch.ones(1, 1), present, target)
    parts_bad = frame_loss(bad, torch.ones(1, 1), present, target)
    assert parts_good["dice"] < 0.01 and parts_good["focal"] < 1e-4 and parts_good["iou"] < 1e-3
    assert parts_bad["dice"] > 0.9 and parts_bad["iou"] > 0.9
    # An absent object: only the object-score term counts, and it punishes a confident "present".
    empty = torch.zeros_like(target)
    absent = frame_loss(good, torch.ones(1, 1), present, empty)
    assert absent["dice"] == 0 and absent["focal"] == 0 and absent["object"] > 5


def test_a_saturated_iou_head_still_learns_and_the_iou_loss_is_least_at_the_real_iou():
    target = torch.zeros(1, 32, 32, dtype=torch.bool)
    target[0, 8:20, 10:24] = True
    half = torch.zeros_like(target)
    half[0, 8:14, 10:24] = True  # half the target: real IoU 0.5
    masks = torch.where(half, 12.0, -12.0).float().unsqueeze(1)
    present = torch.tensor([[8.0]])
    # The CPU starter's head: logit -14, predicted IoU ~1e-6 for a mask that is half right.
    logit = torch.tensor([[-14.0]], requires_grad=True)
    frame_loss(masks, logit.sigmoid(), present, target)["iou"].backward()
    assert logit.grad.item() == pytest.approx(logit.sigmoid().item() - 0.5, abs=1e-4)
    # (SAM2's L1 would push with p(1 - p) ~ 8e-7 here: the head could never leave.)
    grid = torch.linspace(0.05, 0.95, 19)
    losses = [frame_loss(masks, p.view(1, 1), present, target)["iou"].item() for p in grid]
    assert grid[int(np.argmin(losses))].item() == pytest.approx(0.5)
    assert min(losses) < 1e-6 and losses[0] > 0.3 and losses[-1] > 0.3


def test_best_of_several_masks_is_the_one_supervised():
    target = torch.zeros(1, 16, 16, dtype=torch.bool)
    target[0, 4:12, 4:12] = True
    right = torch.where(target, 10.0, -10.0)
    masks = torch.stack([-right[0], right[0], -right[0]]).unsqueeze(0)  # (1, 3, H, W)
    parts = frame_loss(masks, torch.ones(1, 3), torch.tensor([[5.0]]), target)
    assert parts["dice"] < 0.01


def test_learning_rate_schedule():
    cfg = TrainConfig(steps=100, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_factor(0, cfg) == pytest.approx(0.1)
    assert lr_factor(9, cfg) == pytest.approx(1.0)
    assert lr_factor(10, cfg) == pytest.approx(1.0)
    assert lr_factor(55, cfg) == pytest.approx(0.55)
    assert lr_factor(100, cfg) == pytest.approx(0.1)


def test_bad_inputs(tmp_path):
    good = items(1)
    empty = [TrainItem(np.zeros((4, 32, 32), np.int16), np.zeros((4, 32, 32), np.uint8))]
    with pytest.raises(TrainingError, match="non-empty mask"):
        train(empty, config(), tmp_path / "a")
    wrong = [TrainItem(np.zeros((4, 32, 32), np.int16), np.ones((4, 16, 16), np.uint8))]
    with pytest.raises(TrainingError, match="does not match image"):
        train(wrong, config(), tmp_path / "b")
    with pytest.raises(TrainingError, match="at least 1"):
        train(good, config(steps=0), tmp_path / "c")
    with pytest.raises(ValueError, match="unknown model config"):
        train(good, config(model_config="nope"), tmp_path / "d")
    other = tmp_path / "other.pt"
    save_checkpoint(build_model("starter_s256"), other)
    with pytest.raises(TrainingError, match="does not match"):
        train(good, config(), tmp_path / "e", init_checkpoint=other)
