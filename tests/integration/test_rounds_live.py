"""The model loop through the real stack: API → training worker → candidate → promotion →
the next import is pre-segmented by the new version; a worker killed mid-round resumes."""

from __future__ import annotations

import asyncio
import io

import nibabel as nib
import numpy as np
import pytest

from annotator.annotations.models import JobStatus, MaskRevision, PresegmentJob
from annotator.modelops.models import RoundPolicy, RoundStatus, TrainingRound
from annotator.registry.models import ModelStatus
from tests import factories
from tests.integration.test_presegment_live import api, collect_progress, session_cookie
from tests.live import wait_for
from tests.modelops.helpers import blob_case

pytestmark = [pytest.mark.integration]


def accepted_cohort(project, people, n=6):
    return [blob_case(project, people["annotator"], people["reviewer"], seed=s) for s in range(n)]


def round_status(pk: int) -> str:
    return TrainingRound.objects.get(pk=pk).status


def nifti_bytes(array_zyx: np.ndarray) -> bytes:
    image = nib.Nifti1Image(np.ascontiguousarray(array_zyx.transpose(2, 1, 0)), np.eye(4))
    buffer = io.BytesIO()
    buffer.write(image.to_bytes())
    return buffer.getvalue()


def test_round_end_to_end_through_the_api(live, project, people, tmp_path):
    weak = factories.tiny_model_version(tmp_path, project=project)
    accepted_cohort(project, people)
    RoundPolicy.objects.update_or_create(project=project, defaults={"heldout_fraction": 0.34})
    live.start_worker()
    admin = api(live, people["admin"])
    cookie = session_cookie(people["admin"])

    response = admin.post(
        f"{live.url}/api/v1/training-rounds/",
        json={"project": project.pk, "steps": 30, "learning_rate": 2e-3},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    round_id = response.json()["id"]
    messages = asyncio.run(
        collect_progress(
            f"{live.url}/ws/training-rounds/{round_id}/progress",
            cookie,
            {"candidate", "failed", "promoted", "cancelled"},
            300,
        )
    )
    statuses = [m["status"] for m in messages]
    assert statuses[-1] == "candidate", messages[-3:]
    steps = [m["progress"]["step"] for m in messages if m["progress"].get("phase") == "training"]
    assert steps and steps[-1] == 30 and steps == sorted(steps)
    assert "evaluating" in statuses

    detail = admin.get(f"{live.url}/api/v1/training-rounds/{round_id}/", timeout=10).json()
    assert detail["metrics"]["candidate"]["summary"]["n"] >= 1
    assert detail["metrics"]["production"]["model"] == weak.pk
    candidate_id = detail["candidate"]
    assert candidate_id and candidate_id != weak.pk

    promoted = admin.post(  # a 30-step candidate may fail the gate or the floor: say why
        f"{live.url}/api/v1/training-rounds/{round_id}/promote",
        json={"override": "integration test of the loop, not of the model"},
        timeout=60,
    )
    assert promoted.status_code == 200, promoted.text
    assert round_status(round_id) == RoundStatus.PROMOTED
    weak.refresh_from_db()
    assert weak.status == ModelStatus.RETIRED

    # The next imported case is pre-segmented by the promoted version.
    rng = np.random.default_rng(5)
    zz, yy, xx = np.mgrid[:10, :48, :48]
    blob = ((zz - 5) / 3) ** 2 + ((yy - 24) / 7) ** 2 + ((xx - 22) / 8) ** 2 <= 1
    volume = (rng.normal(40, 10, blob.shape) + 120 * blob).astype(np.int16)
    manager = api(live, people["manager"])
    response = manager.post(
        f"{live.url}/api/v1/projects/{project.pk}/cases/",
        files={
            "files": ("next.nii.gz", nifti_bytes(volume)),
            "targets": ("t.csv", b"case,label,key_index,x0,y0,x1,y1\nnext,lesion,5,14,17,31,32\n"),
        },
        timeout=60,
    )
    assert response.status_code == 201, response.text

    case_id = response.json()["created"][0]["id"]

    def presegmented() -> bool:
        return PresegmentJob.objects.filter(
            target__case_id=case_id, status__in=[JobStatus.DONE, JobStatus.FAILED]
        ).exists()

    wait_for(presegmented, 120, "the new case's pre-segmentation", live)
    job = PresegmentJob.objects.get(target__case_id=case_id)
    assert job.status == JobStatus.DONE, job.message
    revision = MaskRevision.objects.get(target=job.target)
    assert revision.source == "model" and revision.model_version_id == candidate_id


def test_round_worker_killed_mid_training_resumes_from_its_checkpoint(
    live, project, people, tmp_path
):
    factories.tiny_model_version(tmp_path, project=project)
    accepted_cohort(project, people)
    first = live.start_worker("first")
    admin = api(live, people["admin"])
    response = admin.post(
        f"{live.url}/api/v1/training-rounds/",
        json={"project": project.pk, "steps": 40, "learning_rate": 1e-3},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    round_id = response.json()["id"]

    def past_a_checkpoint() -> bool:  # checkpoints every 4 steps for a 40-step round
        return TrainingRound.objects.get(pk=round_id).progress.get("step", 0) >= 10

    wait_for(past_a_checkpoint, 180, "training to pass a checkpoint", live)
    live.kill(first)
    assert round_status(round_id) == RoundStatus.TRAINING
    live.start_worker("second")
    wait_for(
        lambda: round_status(round_id) in {"candidate", "failed", "promoted"},
        300,
        "the redelivered round to finish",
        live,
    )
    round_ = TrainingRound.objects.get(pk=round_id)
    assert round_.status == RoundStatus.CANDIDATE, round_.message
    assert round_.attempts == 2
    assert round_.config["resumed_from"] >= 8 and round_.config["trained_steps"] == 40
