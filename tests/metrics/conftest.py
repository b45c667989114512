"""A controllable clock and helpers to build review histories through the real services."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pytest

from annotator.annotations import services, workflow
from annotator.annotations.models import PresegmentJob
from annotator.registry.models import ModelVersion
from tests import factories

START = dt.datetime(2026, 3, 2, 8, 0, 0, tzinfo=dt.UTC)
_keys = itertools.count(1)


class Clock:
    """Stands in for django.utils.timezone.now: time moves only when the test says so."""

    def __init__(self, start: dt.datetime):
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def at(self, seconds: float) -> dt.datetime:
        """Jump to START + seconds."""
        self.now = START + dt.timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = Clock(START)
    monkeypatch.setattr("django.utils.timezone.now", c)
    return c


def model_version(project=None, *, round_number: int | None = 1, name: str | None = None):
    return ModelVersion.objects.create(
        name=name or f"round-{round_number}",
        origin="round",
        config="tiny_test",
        checksum="0" * 64,
        file="none.pt",
        round_number=round_number,
        project=project,
    )


def box_mask(case, z=(3, 5), y=(3, 9), x=(4, 12)) -> np.ndarray:
    nx, ny, nz = case.image.shape
    m = np.zeros((nz, ny, nx), np.uint8)
    m[z[0] : z[1], y[0] : y[1], x[0] : x[1]] = 1
    return m


def model_save(target, mask, version):
    head = type(target).objects.get(pk=target.pk).head_id
    return services.save_model_revision(
        target, mask, model_version=version, parent_id=head, idempotency_key=f"m{next(_keys)}"
    ).revision


def human_save(target, user, mask, active_seconds):
    """Save as the viewer does: raw voxels (x fastest) with the image's shape."""
    target = type(target).objects.select_related("case__image").get(pk=target.pk)
    return services.save_human_revision(
        target,
        actor=user,
        data=np.ascontiguousarray(mask, dtype=np.uint8).tobytes(),
        raw_shape=tuple(target.case.image.shape),
        parent_id=target.head_id,
        active_seconds=active_seconds,
    ).revision


def reprompt(target, user):
    return PresegmentJob.objects.create(
        target=target, case=target.case, automatic=False, requested_by=user
    )


def submit(case, user):
    case.refresh_from_db()
    return workflow.submit(case, actor=user)


def start(case, user):
    case.refresh_from_db()
    return workflow.start(case, actor=user)


def review(target, user, decision="accept", comment=""):
    target = type(target).objects.get(pk=target.pk)  # the current head
    return workflow.review_target(target, actor=user, decision=decision, comment=comment)


def two_target_history(project, people, clock):
    """Case with two AI-assisted targets: t1 accepted as the model made it, t2 edited in two
    sessions, re-prompted once, rejected once and fixed. Times in seconds from START."""
    version = model_version(project, round_number=1)
    case = factories.case(project, assignee=people["annotator"])
    # t1's model mask lies on slices 1-2: its key slice is 1 (else it is flagged off its box).
    t1, t2 = factories.target(case, key_index=1), factories.target(case, label="cyst")
    model_save(t1, box_mask(case, z=(1, 3)), version)
    model_save(t2, box_mask(case), version)  # 2 x 6 x 8 = 96 voxels
    clock.at(100)
    start(case, people["annotator"])  # first open
    reprompt(t2, people["annotator"])
    clock.at(400)
    # Wall time between saves is long; only the reported active seconds count (idle excluded).
    human_save(t2, people["annotator"], box_mask(case, x=(4, 13)), active_seconds=120)
    clock.at(700)
    human_save(t2, people["annotator"], box_mask(case, x=(4, 14)), active_seconds=30.5)
    clock.at(1000)
    submit(case, people["annotator"])  # first submission: wall = 900 s
    clock.at(1100)
    review(t1, people["reviewer"], "accept")
    review(t2, people["reviewer"], "reject", comment="too small")
    clock.at(1500)
    final = box_mask(case, x=(4, 14))
    final[3, 3, 3] = 1  # rework adds one voxel: 121 voxels
    human_save(t2, people["annotator"], final, active_seconds=60)
    clock.at(1600)
    submit(case, people["annotator"])
    clock.at(1700)
    review(t2, people["reviewer"], "accept")
    case.refresh_from_db()
    assert case.status == "accepted"
    return case, t1, t2, version
