"""The pre-segmentation checks (inference/qc.py) on constructed masks: each flag, and none on a
good mask."""

from __future__ import annotations

import numpy as np
import pytest

from inference import qc
from inference.sam2_adapter import FrameScore

SHAPE = (9, 64, 64)
KEY = 4
BOX = (20.0, 20.0, 40.0, 40.0)


def lesion(shape=SHAPE, center=(30, 30), radii=(4, 3, 2, 1, 1)) -> np.ndarray:
    """A lesion shrinking away from the key slice (disc radius 8 there)."""
    mask = np.zeros(shape, np.uint8)
    yy, xx = np.mgrid[: shape[1], : shape[2]]
    for dz, r in enumerate(radii):
        radius = 2 * r
        for z in {KEY - dz, KEY + dz}:
            if 0 <= z < shape[0]:
                mask[z] |= ((yy - center[0]) ** 2 + (xx - center[1]) ** 2 <= radius**2).astype(
                    np.uint8
                )
    return mask


def confident(mask, iou=0.9, obj=5.0) -> dict:
    return {z: FrameScore(iou, obj) for z in range(mask.shape[0])}


def codes(flags):
    return [f["code"] for f in flags]


def test_good_mask_has_no_flag():
    mask = lesion()
    assert qc.check_mask(mask, key_index=KEY, box=BOX, scores=confident(mask)) == []


def test_no_scores_and_no_box_only_checks_what_it_can():
    assert qc.check_mask(lesion(), key_index=KEY) == []


def test_empty():
    flags = qc.check_mask(np.zeros(SHAPE, np.uint8), key_index=KEY, box=BOX)
    assert codes(flags) == ["empty"]
    assert flags[0]["slices"] == [] and "empty" in flags[0]["detail"]


def test_empty_with_negative_object_score_is_also_low_confidence():
    scores = {KEY: FrameScore(0.8, -3.0)}
    flags = qc.check_mask(np.zeros(SHAPE, np.uint8), key_index=KEY, box=BOX, scores=scores)
    assert codes(flags) == ["empty", "low_confidence"]
    assert flags[1]["slices"] == [KEY]
    assert "sees no object" in flags[1]["detail"]


def test_off_box_mask_elsewhere_on_the_key_slice():
    mask = lesion(center=(52, 52))  # the same lesion, outside the box
    flags = qc.check_mask(mask, key_index=KEY, box=BOX)
    assert codes(flags) == ["off_box"]
    assert flags[0]["slices"] == [KEY]
    assert "outside its box" in flags[0]["detail"]


def test_off_box_mask_filling_almost_none_of_the_box():
    mask = np.zeros(SHAPE, np.uint8)
    mask[KEY - 1 : KEY + 2, 29:31, 29:31] = 1  # 4 px of a 400 px box
    flags = qc.check_mask(mask, key_index=KEY, box=BOX)
    assert codes(flags) == ["off_box"]
    assert "fills 1% of the box" in flags[0]["detail"]


def test_off_box_when_the_key_slice_is_empty():
    mask = lesion()
    mask[KEY] = 0
    assert "off_box" in codes(qc.check_mask(mask, key_index=KEY, box=BOX))


def test_border_where_the_box_does_not_reach():
    mask = lesion()
    mask[5:7, 28:33, 0:6] = 1  # a strip on the left edge, joined to nothing in the box
    flags = qc.check_mask(mask, key_index=KEY, box=BOX)
    assert codes(flags) == ["border"]
    assert flags[0]["slices"] == [5, 6]
    assert "left edge on 2 slices" in flags[0]["detail"]


def test_border_allowed_where_the_box_reaches_the_edge():
    mask = np.zeros(SHAPE, np.uint8)
    mask[3:6, 10:30, 0:15] = 1  # a target on the left edge, boxed to the edge
    assert qc.check_mask(mask, key_index=KEY, box=(1.0, 8.0, 16.0, 32.0)) == []


def test_area_jump_growing_away_from_the_key_slice():
    mask = lesion()
    mask[KEY + 2, 10:50, 10:50] = 1  # a leak two slices from the key slice
    flags = qc.check_mask(mask, key_index=KEY, box=BOX)
    assert codes(flags) == ["area_jump"]
    assert flags[0]["slices"] == [KEY + 2]
    assert f"slice {KEY + 2}" in flags[0]["detail"]


def test_shrinking_to_nothing_at_the_ends_is_plausible():
    mask = np.zeros(SHAPE, np.uint8)
    mask[KEY - 1 : KEY + 2, 22:38, 22:38] = 1  # 3 full slices then nothing (coarse slices)
    assert qc.check_mask(mask, key_index=KEY, box=BOX) == []


def test_clip_area_jump_in_either_direction():
    clip = np.zeros((6, 64, 64), np.uint8)
    clip[:, 20:40, 20:40] = 1
    clip[3] = 0  # the ventricle vanishes on one frame
    clip[3, 28:31, 28:31] = 1
    flags = qc.check_mask(clip, key_index=0, box=BOX, is_video=True)
    assert codes(flags) == ["area_jump"]
    assert flags[0]["slices"] == [3, 4]
    assert "frame" in flags[0]["detail"]


def test_low_confidence_on_the_key_slice():
    mask = lesion()
    scores = confident(mask)
    scores[KEY] = FrameScore(0.3, 2.0)
    flags = qc.check_mask(mask, key_index=KEY, box=BOX, scores=scores)
    assert codes(flags) == ["low_confidence"]
    assert flags[0]["slices"] == [KEY]
    assert "predicted IoU 0.30 on the key slice" in flags[0]["detail"]


def test_low_confidence_on_a_share_of_the_slices():
    mask = lesion()
    scores = confident(mask)
    for z in (0, 1, 7, 8):
        scores[z] = FrameScore(0.2, 1.0)
    flags = qc.check_mask(mask, key_index=KEY, box=BOX, scores=scores)
    assert codes(flags) == ["low_confidence"]
    assert flags[0]["slices"] == [0, 1, 7, 8]
    assert "4 of 9 slices" in flags[0]["detail"]


def test_one_uncertain_tip_is_not_flagged():
    mask = lesion()
    scores = confident(mask)
    scores[0] = FrameScore(0.2, 1.0)
    assert qc.check_mask(mask, key_index=KEY, box=BOX, scores=scores) == []


def test_mask_prompted_frames_have_no_score_and_are_not_judged():
    mask = lesion()
    scores = confident(mask)
    scores[KEY] = FrameScore(None, None)
    assert qc.check_mask(mask, key_index=KEY, box=BOX, scores=scores) == []


def test_bad_shape_is_refused():
    with pytest.raises(ValueError):
        qc.check_mask(np.zeros((4, 4)), key_index=0)


# ---------------------------------------------------------------- the model's confidence


def test_tracking_reports_the_models_confidence_per_slice(present_model):
    from inference.engine import Prompt, SegmentOptions, segment_volume_detailed

    from .conftest import ct_volume, lesion_box

    volume = ct_volume()
    mask, result = segment_volume_detailed(
        present_model,
        volume,
        "CT",
        [Prompt(index=6, box=lesion_box())],
        SegmentOptions(early_stop_patience=None, z_range=(2, 12)),
    )
    scores = result.absolute_scores()
    assert sorted(scores) == list(range(2, 12))  # every slice run, in volume indices
    for score in scores.values():
        assert 0.0 <= score.iou <= 1.5 and score.object_score > 0  # the object is pinned present
    flags = qc.check_mask(mask, key_index=6, box=lesion_box(), scores=scores)
    assert all(f["code"] in qc.CODES for f in flags)


def test_absent_object_gives_a_negative_object_score_and_a_mask_prompt_none(absent_model):
    from inference.engine import Prompt, SegmentOptions, segment_volume_detailed

    from .conftest import ct_volume, lesion_box

    volume = ct_volume()
    given = np.zeros(volume.shape[1:], bool)
    given[20:30, 25:40] = True
    _, result = segment_volume_detailed(
        absent_model,
        volume,
        "CT",
        [Prompt(index=3, box=lesion_box()), Prompt(index=8, mask=given)],
        SegmentOptions(early_stop_patience=None),
    )
    scores = result.absolute_scores()
    assert scores[3].object_score < 0
    assert scores[8] == FrameScore(None, None)
    assert scores[10].object_score < 0


def test_assess_track_reads_the_scores_and_disagreement_tracking_gave():
    class Track:  # what the checks read of an inference.tracking.TrackResult
        disagreement = 0.4

        def __init__(self, scores):
            self._scores = scores

        def absolute_scores(self):
            return self._scores

    mask = lesion()
    unsure = {z: FrameScore(0.2, -3.0) for z in range(SHAPE[0])}
    got = qc.assess_track(mask, Track(unsure), key_index=KEY, box=BOX)
    assert got == qc.assess(mask, key_index=KEY, box=BOX, scores=unsure, disagreement=0.4)
    assert "low_confidence" in codes(got[0])
    calm = qc.assess_track(mask, Track(confident(mask)), key_index=KEY, box=BOX)
    assert calm[0] == [] and calm[1] < got[1]
