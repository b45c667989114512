"""One segmentation task per kind of image: pre-segmentation, round training and round evaluation
give the model the same 8-bit frames for the same target (CT with its own window, MR, echo)."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.annotations.masks import summarize
from annotator.annotations.models import Review
from annotator.annotations.services import store_revision
from annotator.cases.models import CaseStatus
from annotator.modelops import evaluation, presegment, round_data, rounds
from inference import engine, train_data
from inference.preprocess import intensity_rule
from tests import factories

KINDS = {
    # project kind, modality, image dtype, the target's own window
    "ct": ("volume", "CT", np.int16, [-750.0, 1500.0]),
    "mr": ("volume", "MR", np.int16, None),
    "echo": ("video", "US", np.uint8, None),
}


def accepted_case(project, people, seed: int, dtype, window):
    rng = np.random.default_rng(seed)
    nz, ny, nx = 8, 40, 48
    zz, yy, xx = np.mgrid[:nz, :ny, :nx]
    blob = ((zz - 4) / 3.0) ** 2 + ((yy - 20) / 7.0) ** 2 + ((xx - 24) / 8.0) ** 2 <= 1
    base = rng.normal(60, 15, (nz, ny, nx)) + 120 * blob
    if dtype == np.int16:
        base = base * 8 - 900  # HU-like range, wider than any one window
    image = np.clip(base, 0 if dtype == np.uint8 else -1024, 255 if dtype == np.uint8 else 3000)
    case = factories.case(
        project, array=image.astype(dtype), assignee=people["annotator"], status=CaseStatus.READY
    )
    target = factories.target(case, key_index=4, box=[16.0, 13.0, 33.0, 28.0])
    target.window = window
    target.save(update_fields=["window"])
    return case, target, blob


@pytest.fixture
def record(monkeypatch):
    """The uint8 frames handed to the engine and to training, by call."""
    seen: dict[str, list[np.ndarray]] = {"engine": [], "training": []}

    def spy(where, real):
        def wrapper(*args, **kwargs):
            out = real(*args, **kwargs)
            seen[where].append(np.array(out))
            return out

        return wrapper

    monkeypatch.setattr(engine, "model_pixels", spy("engine", engine.model_pixels))
    monkeypatch.setattr(train_data, "model_pixels", spy("training", train_data.model_pixels))
    return seen


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_presegmentation_training_and_evaluation_see_the_same_frames(
    kind, people, tmp_path, record, django_capture_on_commit_callbacks
):
    project_kind, modality, dtype, window = KINDS[kind]
    project = factories.project(
        kind=project_kind, modality=modality, annotator=[people["annotator"]],
        reviewer=[people["reviewer"]],
    )  # fmt: skip
    if modality == "CT":
        project.default_window = "abdomen"  # the target's own window must win over it
        project.save(update_fields=["default_window"])
    version = factories.tiny_model_version(tmp_path)
    made = [accepted_case(project, people, seed, dtype, window) for seed in range(4)]

    # Pre-segmentation of every target, as the worker runs it.
    preseg = {}
    for _case, target, _ in made:
        with django_capture_on_commit_callbacks(execute=True):
            job = presegment.request(target, actor=people["annotator"])
        job.refresh_from_db()
        assert job.status == "done", job.message
        preseg[target.pk] = record["engine"][-1]
    if window is not None:  # the target's window, not the project's abdomen window
        from inference.preprocess import to_uint8

        volume, rule = round_data.load_volume(made[0][0].image), intensity_rule(version.config)
        assert np.array_equal(preseg[made[0][1].pk], to_uint8(volume, "CT", tuple(window), rule))
        assert not np.array_equal(preseg[made[0][1].pk], to_uint8(volume, "CT", "abdomen", rule))

    # The accepted masks (the blob) go into a round's snapshot.
    for case, target, blob in made:
        target.refresh_from_db()
        revision = store_revision(
            target, summarize(blob.astype(np.uint8)), parent_id=target.head_id,
            source="human", author=people["annotator"],
        ).revision  # fmt: skip
        Review.objects.create(
            target=target, revision=revision, reviewer=people["reviewer"], decision="accept"
        )
        type(case).objects.filter(pk=case.pk).update(status=CaseStatus.ACCEPTED)
    snapshot = rounds.take_snapshot(project)
    examples = round_data.examples(snapshot, "train") + round_data.examples(snapshot, "heldout")
    assert len(examples) == 4

    before = len(record["engine"])  # evaluation, as the round runs it
    evaluation.evaluate_models({"candidate": version}, examples, tolerance_mm=2.0)
    evaluated = record["engine"][before:]
    assert len(evaluated) == len(examples)
    for ex, frames in zip(examples, evaluated, strict=True):
        assert np.array_equal(frames, preseg[ex.target.pk]), ex.target.pk

    # Training: the items the round trains on, prepared as inference.train prepares them.
    items, _ = round_data.train_items(examples, clip_len=2)
    assert not any(item.trusted for item in items)  # nothing trusted: no distillation frames
    marked, _ = round_data.train_items(examples, clip_len=2, trusted={kind})
    assert [item.trusted for item in marked] == [True] * len(examples)
    other, _ = round_data.train_items(examples, clip_len=2, trusted={"pet"})
    assert not any(item.trusted for item in other)
    for ex, item in zip(examples, items, strict=True):
        train_data.PreparedItem(item, 32, None, intensity_rule(version.config))
        frames = record["training"][-1]
        z = np.flatnonzero(ex.mask.reshape(ex.mask.shape[0], -1).any(axis=1))
        lo, hi = max(0, z[0] - 2), min(ex.mask.shape[0], z[-1] + 3)
        assert np.array_equal(frames, preseg[ex.target.pk][lo:hi]), ex.target.pk
