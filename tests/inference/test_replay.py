"""The round recipe (inference.replay): appearance groups, balanced sampling weights, the trainer
drawing by weight, and the pull toward the production weights."""

import hashlib
import json
from dataclasses import asdict

import numpy as np
import pytest
import torch

from inference import replay
from inference.bootstrap import BootstrapSettings
from inference.checkpoint import read_state_dict, save_checkpoint
from inference.model import TINY_TEST, build_model
from inference.phantoms import make_phantom
from inference.sam2_adapter import MASK_DECODER, OBJECT_SCORE_HEAD
from inference.train import TrainConfig, TrainingError, TrainItem, _sampler, train
from inference.train_data import PreparedItem, data_fingerprint, load_items, make_batch, save_items
from inference.train_loss import feature_drift


def _blob(inside: float, outside: float) -> tuple[np.ndarray, np.ndarray]:
    image = np.full((4, 32, 32), outside, dtype=np.float32)
    mask = np.zeros((4, 32, 32), dtype=np.uint8)
    mask[1:3, 10:20, 10:20] = 1
    image[mask > 0] = inside
    return image, mask


def test_appearance_tells_dark_from_bright_objects():
    assert replay.appearance(*_blob(-50.0, 60.0)) == "darker"
    assert replay.appearance(*_blob(150.0, 60.0)) == "brighter"
    assert replay.appearance(np.zeros((2, 8, 8)), np.zeros((2, 8, 8))) == "empty"
    # The phantoms: an echo cavity is dark in its bright wall.
    echo = make_phantom("echo", 3)
    assert replay.appearance(echo.image, echo.mask) == "darker"


def test_ct_phantom_lesions_of_both_signs_fall_in_their_groups():
    found = {
        replay.appearance(p.image, p.mask) for p in map(lambda s: make_phantom("ct", s), range(12))
    }
    assert found == {"darker", "brighter"}


def test_sampling_weights_give_every_group_the_same_share():
    groups = (
        [("ct", "lesion", "darker")] * 6
        + [("ct", "lesion", "brighter")] * 2
        + [("echo", "left ventricle", "darker")] * 4
    )
    none = replay.sampling_weights(groups, "none")
    assert np.allclose(none, 1 / 12)
    kind = replay.sampling_weights(groups, "kind")
    assert np.isclose(kind[:8].sum(), 0.5) and np.isclose(kind[8:].sum(), 0.5)
    group = replay.sampling_weights(groups, "group")
    assert np.isclose(group[:6].sum(), 1 / 3) and np.isclose(group[6:8].sum(), 1 / 3)
    assert np.isclose(group.sum(), 1.0) and np.allclose(group[:6], group[0])
    assert replay.sampling_weights([], "group").size == 0
    with pytest.raises(ValueError, match="balance"):
        replay.sampling_weights(groups, "by-size")


def test_weighted_sets_item_weights_and_reports_the_groups():
    dark, bright = _blob(-50.0, 60.0), _blob(150.0, 60.0)
    items = [TrainItem(*dark, label="lesion") for _ in range(3)] + [
        TrainItem(*bright, label="lesion")
    ]
    items, shares = replay.weighted(items, ["ct"] * 4, "group")
    assert [round(i.weight, 4) for i in items] == [0.1667, 0.1667, 0.1667, 0.5]
    assert shares == {
        "ct/lesion/brighter": {"masks": 1, "share": 0.5},
        "ct/lesion/darker": {"masks": 3, "share": 0.5},
    }


def test_the_sampler_draws_in_proportion_to_the_weights_and_is_unchanged_when_equal():
    image, mask = _blob(-50.0, 60.0)
    preps = [PreparedItem(TrainItem(image, mask, weight=w), 32) for w in (0.0, 3.0, 1.0)]
    drawn = _sampler(preps)(np.random.default_rng(0), 4000)
    counts = np.bincount(drawn, minlength=3)
    assert counts[0] == 0 and 2.6 < counts[1] / counts[2] < 3.4
    equal = [PreparedItem(TrainItem(image, mask, weight=2.0), 32) for _ in range(3)]
    assert np.array_equal(
        _sampler(equal)(np.random.default_rng(5), 9), np.random.default_rng(5).integers(0, 3, 9)
    )  # the draw of every run before weights existed
    for bad in (-1.0, float("nan")):
        with pytest.raises(TrainingError, match="weights"):
            _sampler([PreparedItem(TrainItem(image, mask, weight=bad), 32)])


def test_item_weights_survive_the_files_torchrun_reads(tmp_path):
    image, mask = _blob(-50.0, 60.0)
    save_items([TrainItem(image, mask, weight=0.25), TrainItem(image, mask)], tmp_path)
    assert [i.weight for i in load_items(tmp_path)] == [0.25, 1.0]


def _items():
    return [
        TrainItem(p.image, p.mask, p.modality, p.window, p.label, p.is_video)
        for p in (make_phantom("ct", 1), make_phantom("mr", 2))
    ]


def _start_model(tmp_path):
    """A seeded random-weights checkpoint to fine-tune from (production, for these tests)."""
    torch.manual_seed(0)
    init = tmp_path / "init.pt"
    save_checkpoint(build_model(TINY_TEST, training=True), init)
    return init


FAST = dict(model_config=TINY_TEST, steps=6, clip_len=3, lr=3e-3, encoder_lr=3e-3, seed=2)


def _distance(a: dict, b: dict) -> float:
    return float(sum(((a[k].float() - b[k].float()) ** 2).sum() for k in a))


def test_the_anchor_keeps_fine_tuning_near_the_production_weights(tmp_path):
    init = _start_model(tmp_path)
    free = train(_items(), TrainConfig(**FAST), tmp_path / "free", init_checkpoint=init)
    held = train(
        _items(), TrainConfig(**FAST, anchor=50.0), tmp_path / "held", init_checkpoint=init
    )
    start = read_state_dict(init)
    moved_free = _distance(read_state_dict(free.model_path), start)
    moved_held = _distance(read_state_dict(held.model_path), start)
    assert 0 < moved_held < 0.8 * moved_free, (moved_held, moved_free)


def _trusted_ct():
    items = _items()
    for item in items:
        item.trusted = item.modality == "CT"
    return items


def _drift_on(items, state: dict, init: dict) -> float:
    """feature_drift of ``state``'s image encoder from ``init``'s on the items' frames."""
    student, teacher = (build_model(TINY_TEST, training=True) for _ in range(2))
    student.load_state_dict(state)
    teacher.load_state_dict(init)
    preps = [PreparedItem(i, int(student.image_size)) for i in items]
    frames, _, _ = make_batch(preps, range(len(preps)), 3, 0.0, np.random.default_rng(0))
    with torch.no_grad():
        drift = feature_drift(student.image_encoder, teacher.image_encoder, frames.flatten(0, 1))
    return float(drift)


def test_distillation_holds_the_encoder_features_on_trusted_frames(tmp_path):
    init = _start_model(tmp_path)
    free = train(_trusted_ct(), TrainConfig(**FAST), tmp_path / "free", init_checkpoint=init)
    held = train(_trusted_ct(), TrainConfig(**FAST, distill=50.0), tmp_path / "held",
                 init_checkpoint=init)  # fmt: skip
    start = read_state_dict(init)
    ct = [i for i in _trusted_ct() if i.trusted]
    drift_free = _drift_on(ct, read_state_dict(free.model_path), start)
    drift_held = _drift_on(ct, read_state_dict(held.model_path), start)
    assert 0 < drift_held < 0.5 * drift_free, (drift_held, drift_free)
    # The term is in the loss it reports: the held run's last loss includes it.
    assert held.final_loss != free.final_loss


def test_distillation_off_or_with_nothing_to_hold_trains_exactly_as_before(tmp_path):
    init = _start_model(tmp_path)
    base = dict(model_config=TINY_TEST, steps=2, clip_len=3, seed=2)
    plain = read_state_dict(
        train(_items(), TrainConfig(**base), tmp_path / "plain", init_checkpoint=init).model_path
    )
    runs = {  # no weight; no trusted item
        "off": (_trusted_ct(), TrainConfig(**base)),
        "untrusted": (_items(), TrainConfig(**base, distill=5.0)),
    }
    for name, (items, config) in runs.items():
        got = read_state_dict(train(items, config, tmp_path / name, init_checkpoint=init)
                              .model_path)  # fmt: skip
        assert all(torch.equal(got[k], plain[k]) for k in plain), name
    # Nothing to distil from: without an init checkpoint the weights are random.
    scratch = [train(_trusted_ct(), TrainConfig(**base, distill=d), tmp_path / f"s{d}")
               for d in (0.0, 5.0)]  # fmt: skip
    a, b = (read_state_dict(r.model_path) for r in scratch)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_trusted_items_survive_the_files_torchrun_reads_and_mark_the_data(tmp_path):
    image, mask = _blob(-50.0, 60.0)
    plain = [TrainItem(image, mask), TrainItem(image, mask)]
    marked = [TrainItem(image, mask, trusted=True), TrainItem(image, mask)]
    save_items(marked, tmp_path)
    assert [i.trusted for i in load_items(tmp_path)] == [True, False]
    assert data_fingerprint(marked) != data_fingerprint(plain)
    # An untrusted item set keeps the fingerprint it had before the flag: a round resumes.
    digest = hashlib.sha256()
    for _ in plain:
        meta = [list(image.shape), str(image.dtype), list(mask.shape), "CT", None, "", False, 1.0]
        digest.update(json.dumps(meta, default=str).encode())
        digest.update(np.packbits(mask.reshape(-1) > 0).tobytes())
        digest.update(np.ascontiguousarray(image.reshape(-1)[::61]).tobytes())
    assert data_fingerprint(plain) == digest.hexdigest()[:16]


def test_settings_left_off_leave_the_fingerprint_as_before():
    config = TrainConfig(model_config=TINY_TEST)
    before = {
        k: v
        for k, v in asdict(config).items()
        if k not in {"device", "checkpoint_every", "anchor", "lr_ratios", "invert", "distill"}
    }
    digest = hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()[:16]
    assert config.fingerprint() == digest  # a run saved before these existed resumes
    assert config.fingerprint() != TrainConfig(model_config=TINY_TEST, anchor=0.1).fingerprint()
    assert config.fingerprint() != TrainConfig(model_config=TINY_TEST, distill=1).fingerprint()
    slow = TrainConfig(model_config=TINY_TEST, lr_ratios={"sam_mask_decoder.": 0.1})
    assert config.fingerprint() != slow.fingerprint()


def test_round_config_is_the_recipe():
    starter = replay.round_config("starter_c128", steps=300, seed=3)
    assert starter.lr == replay.STARTER_LR and starter.encoder_lr == pytest.approx(1.2e-4)
    assert starter.anchor == replay.RECIPE_ANCHOR
    assert starter.loss_weights["dice"] == BootstrapSettings.dice_weight
    # The decoder at a tenth, its object-score head with it (the longest prefix wins).
    assert replay.DECODER_LR_RATIO == replay.OBJECT_HEAD_LR_RATIO == 0.1
    assert starter.lr_ratios == {MASK_DECODER: 0.1}

    def ratios(**kw):
        return replay.round_config("starter_c128", steps=3, **kw).lr_ratios

    assert ratios(decoder_lr_ratio=1) == {OBJECT_SCORE_HEAD: 0.1}
    # A full-rate head inside a slower decoder is named, or the decoder's ratio would take it.
    assert ratios(object_head_lr_ratio=1) == {MASK_DECODER: 0.1, OBJECT_SCORE_HEAD: 1}
    assert ratios(decoder_lr_ratio=1, object_head_lr_ratio=1) == {}
    assert replay.round_config("medsam2_t512", steps=300).lr == replay.RECIPE_LR == 5e-5
    published = replay.round_config("medsam2_t512", steps=1000, lr=1e-5, batch_size=2)
    assert published.loss_weights["dice"] == 1.0
    assert published.batch_size == 2 and published.encoder_lr == pytest.approx(6e-6)
