from __future__ import annotations

import dataclasses
from unittest import mock

import numpy as np
import pytest

from bench.reference import legacy_predictor, reference_segment
from inference.engine import (
    CLIP_DEFAULTS,
    Prompt,
    SegmentOptions,
    segment_clip,
    segment_clip_detailed,
    segment_volume,
    segment_volume_detailed,
)
from inference.metrics import dice
from tests.inference.conftest import ct_volume, lesion_box

NO_STOP = SegmentOptions(early_stop_patience=None)


def _run(loaded, volume, prompts, options=NO_STOP, **kw):
    return segment_volume_detailed(loaded, volume, "CT", prompts, options, **kw)


def test_mask_has_the_volume_geometry_for_non_square_slices(present_model):
    volume = ct_volume((12, 96, 80))
    mask = segment_volume(present_model, volume, "CT", [Prompt(6, box=(20, 30, 60, 50))])
    assert mask.shape == volume.shape and mask.dtype == np.uint8
    assert set(np.unique(mask)) <= {0, 1} and mask.any()


def test_logits_come_back_in_the_original_grid(present_model):
    # A mask prompt off-centre on a non-square slice must come back where it was drawn
    # (not transposed, not stretched to a square), through the model's low-res logits.
    volume = ct_volume((8, 96, 80))
    drawn = np.zeros((96, 80), bool)
    drawn[10:40, 50:76] = True
    _, result = _run(present_model, volume, [Prompt(3, mask=drawn)], keep_logits=True)
    predicted = result.logits["forward"][3] > 0
    assert predicted.shape == (96, 80)
    assert dice(predicted, drawn) > 0.95


def test_both_directions_run_and_each_slice_is_encoded_once(present_model):
    volume = ct_volume((12, 64, 64))
    _, result = _run(present_model, volume, [Prompt(5, box=lesion_box())])
    assert result.visited["forward"] == list(range(5, 12))
    assert result.visited["reverse"] == list(range(5, -1, -1))
    assert sorted(result.encoded_frames) == list(range(12))  # key slice not re-encoded
    assert result.mask[:5].any() and result.mask[6:].any()


def test_without_early_stop_matches_the_reference_procedure(present_model):
    volume = ct_volume((12, 64, 64))
    key, box = 6, lesion_box()
    ours, result = _run(present_model, volume, [Prompt(key, box=box)], keep_logits=True)
    ref, ref_logits = reference_segment(present_model, volume, "CT", key, box, keep_logits=True)
    assert ours.any() and not ours.all()  # a non-trivial mask
    np.testing.assert_array_equal(ours, ref)
    for direction in ("forward", "reverse"):
        assert sorted(result.logits[direction]) == sorted(ref_logits[direction])
        for frame, logits in ref_logits[direction].items():
            # The reference normalises in float64 as the script does (differences seen: 1.2e-4).
            np.testing.assert_allclose(result.logits[direction][frame], logits, atol=1e-3)


def test_reference_encodes_more_than_the_engine(present_model):
    volume = ct_volume((10, 64, 64))
    model, legacy = present_model.model, legacy_predictor(present_model)
    with mock.patch.object(legacy, "forward_image", wraps=legacy.forward_image) as spy:
        reference_segment(present_model, volume, "CT", 5, lesion_box((10, 64, 64)))
        reference_calls = spy.call_count
    with mock.patch.object(model, "forward_image", wraps=model.forward_image) as spy:
        _run(present_model, volume, [Prompt(5, box=lesion_box((10, 64, 64)))])
        engine_calls = spy.call_count
    assert engine_calls == 10  # one encoding per slice
    assert reference_calls == 12  # frame 0 at init_state, key slice again after reset


def test_early_stop_processes_fewer_slices(absent_model):
    volume = ct_volume((16, 64, 64))
    drawn = np.zeros((64, 64), bool)
    drawn[16:32, 20:40] = True
    prompts = [Prompt(8, mask=drawn)]
    full, off = _run(absent_model, volume, prompts)
    stopped, on = _run(absent_model, volume, prompts, SegmentOptions(early_stop_patience=2))
    assert off.visited["forward"] == list(range(8, 16))
    assert on.visited["forward"] == [8, 9, 10]  # two absent slices beyond the prompt
    assert on.visited["reverse"] == [8, 7, 6]
    assert on.stopped_early == {"forward": True, "reverse": True}
    assert len(on.encoded_frames) == 5 < len(off.encoded_frames) == 16
    np.testing.assert_array_equal(stopped, full)  # nothing was found beyond anyway
    assert stopped[8].sum() == drawn.sum() and stopped.sum() == drawn.sum()


def test_early_stop_keeps_going_while_the_object_is_there(present_model):
    volume = ct_volume((12, 64, 64))
    # Span the window so the random model sees the contrast it finds the object in everywhere.
    volume[:, 0, 0], volume[:, 0, 1] = -1000.0, 1000.0
    prompts = [Prompt(6, box=lesion_box())]
    off, _ = _run(present_model, volume, prompts)
    on, result = _run(present_model, volume, prompts, SegmentOptions(early_stop_patience=1))
    assert not any(result.stopped_early.values())
    np.testing.assert_array_equal(on, off)


def test_early_stop_counts_only_beyond_the_prompted_slices(absent_model):
    volume = ct_volume((12, 64, 64))
    drawn = np.zeros((64, 64), bool)
    drawn[10:20, 10:20] = True
    prompts = [Prompt(3, mask=drawn), Prompt(8, mask=drawn)]
    mask, result = _run(absent_model, volume, prompts, SegmentOptions(early_stop_patience=1))
    assert result.visited["forward"] == [3, 4, 5, 6, 7, 8, 9]
    assert result.visited["reverse"] == [8, 7, 6, 5, 4, 3, 2]
    assert mask[3].sum() == mask[8].sum() == drawn.sum()


def test_progress_reports_every_slice_of_both_directions(present_model):
    calls: list[tuple[int, int]] = []
    segment_volume(
        present_model,
        ct_volume((12, 64, 64)),
        "CT",
        [Prompt(4, box=lesion_box())],
        NO_STOP,
        progress=lambda done, total: calls.append((done, total)),
    )
    total = 8 + 5  # forward 4..11, reverse 4..0
    assert calls == [(i, total) for i in range(1, total + 1)]


def test_progress_reaches_total_after_an_early_stop(absent_model):
    calls: list[tuple[int, int]] = []
    drawn = np.zeros((64, 64), bool)
    drawn[5:9, 5:9] = True
    segment_volume(
        absent_model,
        ct_volume((12, 64, 64)),
        "CT",
        [Prompt(6, mask=drawn)],
        SegmentOptions(early_stop_patience=1),
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls[-1] == (13, 13) and len(calls) == 4  # 6, 7 (stop), 6, 5 (stop)


def test_z_range_limits_the_work_and_the_mask(present_model):
    volume = ct_volume((12, 64, 64))
    options = SegmentOptions(early_stop_patience=None, z_range=(3, 9))
    mask, result = _run(present_model, volume, [Prompt(6, box=lesion_box())], options)
    assert mask.shape == volume.shape
    assert not mask[:3].any() and not mask[9:].any() and mask[3:9].any()
    assert sorted(result.encoded_frames) == list(range(6))  # range-relative frames 0..5
    with pytest.raises(ValueError, match="outside z_range"):
        segment_volume(present_model, volume, "CT", [Prompt(1, box=lesion_box())], options)


@pytest.mark.parametrize("label", [1, 0])
def test_refinement_with_a_point_changes_that_slice(present_model, label):
    volume = ct_volume((12, 64, 64))
    box = lesion_box()
    options = SegmentOptions(early_stop_patience=None, largest_component=False)
    first, _ = _run(present_model, volume, [Prompt(6, box=box)], options)
    point = [(32.0, 24.0, label)]
    prompts = [Prompt(6, box=box), Prompt(6, points=point)]
    refined, _ = _run(present_model, volume, prompts, options)
    assert not np.array_equal(refined[6], first[6])
    again, _ = _run(present_model, volume, prompts, options)
    np.testing.assert_array_equal(again, refined)  # deterministic


def test_points_alone_are_a_prompt(present_model):
    volume = ct_volume((8, 64, 64))
    mask = segment_volume(present_model, volume, "CT", [Prompt(4, points=[(32.0, 24.0, 1)])])
    assert mask.shape == volume.shape


def test_refinement_with_a_corrected_slice_mask(present_model):
    volume = ct_volume((12, 64, 64))
    box = lesion_box()
    first, _ = _run(present_model, volume, [Prompt(6, box=box)])
    corrected = np.zeros((64, 64), bool)
    corrected[18:30, 24:40] = True
    prompts = [Prompt(6, box=box), Prompt(8, mask=corrected)]
    refined, result = _run(present_model, volume, prompts)
    np.testing.assert_array_equal(refined[8], corrected)  # the annotator's slice is final
    assert not np.array_equal(refined, first)
    assert result.visited["forward"][0] == 6 and result.visited["reverse"][0] == 8


def test_echo_clip_from_a_middle_frame_runs_both_ways(present_model):
    frames = np.random.default_rng(3).integers(0, 256, (10, 48, 64), dtype=np.uint8)
    masks, result = segment_clip_detailed(present_model, frames, [Prompt(4, box=(10, 10, 40, 30))])
    assert masks.shape == (10, 48, 64) and masks.dtype == np.uint8
    assert result.visited["forward"] == list(range(4, 10))
    assert result.visited["reverse"] == [4, 3, 2, 1, 0]
    assert masks[:4].any() and masks[5:].any()


def test_echo_clip_from_frame_zero_runs_forward_only(present_model):
    frames = np.random.default_rng(4).integers(0, 256, (6, 48, 48), dtype=np.uint8)
    drawn = np.zeros((48, 48), bool)
    drawn[10:30, 10:30] = True
    masks, result = segment_clip_detailed(present_model, frames, [Prompt(0, mask=drawn)])
    assert result.visited == {"forward": list(range(6)), "reverse": []}
    np.testing.assert_array_equal(masks[0], drawn)


def test_the_video_scripts_prompted_frame_is_an_option(present_model):
    frames = np.random.default_rng(4).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    drawn = np.zeros((48, 48), bool)
    drawn[10:30, 10:30] = True
    drawn[np.arange(30, 45), np.arange(30, 45)] = True  # a 1-voxel line: lost at low res
    prompts = [Prompt(1, mask=drawn)]
    kept = segment_clip(present_model, frames, prompts)  # the annotator's mask is final
    official = segment_clip(
        present_model, frames, prompts, dataclasses.replace(CLIP_DEFAULTS, keep_prompt_masks=False)
    )
    assert not np.array_equal(official[1], drawn) and dice(official[1], drawn) > 0.8
    np.testing.assert_array_equal(kept[1], drawn)
    np.testing.assert_array_equal(kept[0], official[0])


def test_post_processing_is_on_for_volumes_and_off_for_clips(present_model):
    import sam2.utils.misc as misc

    model = present_model.model
    calls = []
    real = misc.get_connected_components

    def counted(mask):
        calls.append(mask.shape)
        return real(mask)

    frames = np.random.default_rng(4).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    with mock.patch.object(misc, "get_connected_components", counted):
        segment_clip(present_model, frames, [Prompt(1, box=(10, 10, 30, 30))])
        assert calls == [] and model.fill_hole_area == 8  # off for the run, then restored
        assert model.sam_mask_decoder.dynamic_multimask_via_stability
        options = dataclasses.replace(CLIP_DEFAULTS, postprocess=True)
        segment_clip(present_model, frames, [Prompt(1, box=(10, 10, 30, 30))], options)
        assert len(calls) == 4  # one per frame
        calls.clear()
        segment_volume(
            present_model, ct_volume((5, 48, 48)), "CT", [Prompt(2, box=(10, 10, 30, 30))]
        )
        assert len(calls) == 5


def test_rgb_clip(present_model):
    frames = np.random.default_rng(5).integers(0, 256, (5, 40, 56, 3), dtype=np.uint8)
    masks = segment_clip(present_model, frames, [Prompt(2, box=(5, 5, 30, 30))])
    assert masks.shape == (5, 40, 56)


BAD_VOLUME_CASES = [
    (np.zeros((64, 64)), [Prompt(0, box=(1, 1, 5, 5))], "3D"),
    (np.zeros((2, 8, 64, 64)), [Prompt(0, box=(1, 1, 5, 5))], "3D"),
    (np.zeros((0, 64, 64)), [Prompt(0, box=(1, 1, 5, 5))], "empty"),
    (np.zeros((8, 64, 64)), [], "non-empty list"),
    (np.zeros((8, 64, 64)), Prompt(0, box=(1, 1, 5, 5)), "non-empty list"),
    (np.zeros((8, 64, 64)), [Prompt(8, box=(1, 1, 5, 5))], "index 8 out of range"),
    (np.zeros((8, 64, 64)), [Prompt(-1, box=(1, 1, 5, 5))], "out of range"),
    (np.zeros((8, 64, 48)), [Prompt(2, box=(10, 10, 50, 20))], "outside the image"),
    (np.zeros((8, 64, 64)), [Prompt(2, box=(-5, 10, 20, 20))], "outside the image"),
    (np.zeros((8, 64, 64)), [Prompt(2, box=(30, 10, 20, 20))], "x0 <= x1"),
    (np.zeros((8, 64, 64)), [Prompt(2, box=(1, 2, 3))], r"\(x0, y0, x1, y1\)"),
    (np.zeros((8, 64, 64)), [Prompt(2)], "no box, points or mask"),
    (np.zeros((8, 64, 64)), [Prompt(2, points=[(3, 3, 2)])], "must be 1 or 0"),
    (np.zeros((8, 64, 64)), [Prompt(2, points=[(3, 99, 1)])], "outside the image"),
    (np.zeros((8, 64, 64)), [Prompt(2, mask=np.zeros((64, 63), bool))], "slice shape"),
    (np.zeros((8, 64, 64)), [Prompt(2, mask=np.full((64, 64), 3))], "boolean or 0/1"),
    (
        np.zeros((8, 64, 64)),
        [Prompt(2, box=(1, 1, 5, 5)), Prompt(2, mask=np.ones((64, 64), bool))],
        "mask prompt and a box",
    ),
    (np.zeros((8, 64, 64)), ["box"], "Prompt objects"),
]


@pytest.mark.parametrize(("volume", "prompts", "message"), BAD_VOLUME_CASES)
def test_bad_inputs_raise_clear_value_errors(present_model, volume, prompts, message):
    with pytest.raises(ValueError, match=message):
        segment_volume(present_model, volume, "CT", prompts)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (SegmentOptions(z_range=(5, 5)), "z_range"),
        (SegmentOptions(z_range=(0, 9)), "z_range"),
        (SegmentOptions(z_range=(1,)), "z_range"),
        (SegmentOptions(early_stop_patience=0), "early_stop_patience"),
        (SegmentOptions(early_stop_patience=1.5), "early_stop_patience"),
        (SegmentOptions(window="spleen"), "unknown CT window"),
    ],
)
def test_bad_options(present_model, options, message):
    with pytest.raises(ValueError, match=message):
        segment_volume(
            present_model, np.zeros((8, 64, 64)), "CT", [Prompt(2, box=(1, 1, 5, 5))], options
        )


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (np.zeros((48, 48), np.uint8), r"\(T, H, W\)"),
        (np.zeros((2, 48, 48, 4), np.uint8), r"\(T, H, W\)"),
        (np.zeros((2, 48, 48, 3), np.float32), "RGB frames must be uint8"),
    ],
)
def test_bad_clips(present_model, frames, message):
    with pytest.raises(ValueError, match=message):
        segment_clip(present_model, frames, [Prompt(0, box=(1, 1, 5, 5))])


def test_the_two_directions_disagreement_is_measured_between_prompts(present_model):
    volume = ct_volume((12, 64, 64))
    _, single = _run(present_model, volume, [Prompt(5, box=lesion_box())])
    assert single.disagreement is None  # one prompt: no slice is predicted both ways
    prompts = [Prompt(2, box=lesion_box()), Prompt(9, box=(8, 8, 30, 30))]
    mask, both = _run(present_model, volume, prompts, keep_logits=True)
    # forward from 2, reverse from 9: slices 3-8 ran both ways; recompute from the logits
    inner = range(3, 9)
    a = np.stack([both.logits["forward"][z] > 0 for z in inner])
    b = np.stack([both.logits["reverse"][z] > 0 for z in inner])
    expected = 1.0 - 2.0 * (a & b).sum() / (a.sum() + b.sum())
    assert both.disagreement == pytest.approx(expected, abs=1e-6)
    assert 0.0 <= both.disagreement <= 1.0
    # prompts on neighbouring slices leave nothing between them
    _, adjacent = _run(present_model, volume, [Prompt(5, box=lesion_box()),
                                               Prompt(6, box=lesion_box())])  # fmt: skip
    assert adjacent.disagreement is None
