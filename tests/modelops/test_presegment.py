import numpy as np
import pytest

from annotator.annotations import services
from annotator.annotations.models import JobStatus, MaskRevision, PresegmentJob
from annotator.cases.models import CaseStatus
from annotator.core.errors import Conflict, InvalidInput, NotAllowed
from annotator.modelops import presegment, presegment_run
from tests import factories


@pytest.fixture
def model(db, tmp_path):
    return factories.tiny_model_version(tmp_path)


@pytest.fixture
def ctx(project, people, model):
    case = factories.case(project, assignee=people["annotator"], shape_zyx=(6, 40, 48))
    target = factories.target(case, key_index=3, box=[10, 8, 30, 28])
    return case, target, people["annotator"]


def test_request_runs_and_stores_a_model_revision(ctx, model, django_capture_on_commit_callbacks):
    case, target, user = ctx
    with django_capture_on_commit_callbacks(execute=True):
        job = presegment.request(target, actor=user)
    job.refresh_from_db()
    assert job.status == JobStatus.DONE, job.message
    assert job.total >= 6 and job.done == job.total and job.attempts == 1
    revision = job.result
    assert revision.source == "model" and revision.model_version == model
    assert revision.parent_id is None and revision.author is None
    target.refresh_from_db()
    assert target.head_id == revision.pk
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS
    assert job.prompts == [{"index": 3, "box": [10.0, 8.0, 30.0, 28.0], "points": []}]


def test_running_a_job_twice_stores_one_revision(ctx, django_capture_on_commit_callbacks):
    case, target, user = ctx
    with django_capture_on_commit_callbacks(execute=False):
        job = presegment.request(target, actor=user)
    presegment_run.run_job(job.pk)
    presegment_run.run_job(job.pk)
    assert MaskRevision.objects.filter(target=target).count() == 1
    # A crash after the revision was saved but before the job was marked done:
    PresegmentJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)
    again = presegment_run.run_job(job.pk)
    assert again.status == JobStatus.DONE and MaskRevision.objects.count() == 1


def test_an_edit_during_the_run_is_never_overwritten(ctx, django_capture_on_commit_callbacks):
    case, target, user = ctx
    with django_capture_on_commit_callbacks(execute=False):
        job = presegment.request(target, actor=user)
    human = services.save_human_revision(
        target,
        actor=user,
        data=factories.mask_nifti(case, factories.mask_for(case)),
        parent_id=None,
    ).revision
    job = presegment_run.run_job(job.pk)
    assert job.status == JobStatus.FAILED and "edited while the model ran" in job.message
    target.refresh_from_db()
    assert target.head_id == human.pk and MaskRevision.objects.count() == 1


def test_refine_with_points_and_a_corrected_slice(ctx, django_capture_on_commit_callbacks):
    case, target, user = ctx
    corrected = factories.mask_for(case, fill=(slice(1, 2), slice(5, 15), slice(5, 20)))
    human = services.save_human_revision(
        target, actor=user, data=factories.mask_nifti(case, corrected), parent_id=None
    ).revision
    with django_capture_on_commit_callbacks(execute=True):
        job = presegment.request(
            target,
            actor=user,
            extra_prompts=[
                {"index": 1, "mask_revision": human.pk},
                {"index": 4, "points": [[20, 20, 1], [2, 2, 0]]},
            ],
        )
    job.refresh_from_db()
    assert job.status == JobStatus.DONE, job.message
    assert [p["index"] for p in job.prompts] == [1, 3, 4]
    assert job.result.parent_id == human.pk
    from django.core.files.storage import default_storage

    from annotator.annotations.masks import decode_stored

    with default_storage.open(job.result.file.name) as fh:
        result = decode_stored(fh.read())
    assert np.array_equal(result[1], corrected[1])  # the corrected slice is kept as drawn


def test_request_rules(ctx, people, project):
    case, target, user = ctx
    with pytest.raises(NotAllowed):
        presegment.request(target, actor=people["reviewer"])
    with pytest.raises(InvalidInput, match="outside"):
        presegment.request(target, actor=user, extra_prompts=[{"index": 2, "box": [0, 0, 500, 9]}])
    with pytest.raises(InvalidInput, match="slice 99 is outside"):
        presegment.request(target, actor=user, extra_prompts=[{"index": 99, "box": [1, 1, 5, 5]}])
    with pytest.raises(InvalidInput, match="window"):
        presegment.request(target, actor=user, options={"window": "kidney"})
    bare = factories.target(case, key_index=1)
    bare.box = None
    bare.save()
    with pytest.raises(InvalidInput, match="no prompt"):
        presegment.request(bare, actor=user)
    presegment.request(target, actor=user)
    with pytest.raises(Conflict, match="already being"):
        presegment.request(target, actor=user)


def test_without_a_production_model_the_request_is_refused(project, people):
    case = factories.case(project, assignee=people["annotator"])
    target = factories.target(case)
    with pytest.raises(Conflict, match="bootstrap_model"):
        presegment.request(target, actor=people["annotator"])


def test_auto_presegmentation_of_a_case(project, people, model, django_capture_on_commit_callbacks):
    case = factories.case(project, status=CaseStatus.NEW, shape_zyx=(5, 32, 32))
    factories.target(case, key_index=2, box=[4, 4, 20, 20])
    factories.target(case, key_index=1, box=[2, 2, 10, 12], label="cyst")
    with django_capture_on_commit_callbacks(execute=True):
        assert presegment.queue_case(case)
    case.refresh_from_db()
    assert case.status == CaseStatus.READY
    jobs = list(case.presegment_jobs.all())
    assert len(jobs) == 2 and all(j.status == JobStatus.DONE and j.automatic for j in jobs)
    assert all(t.head.source == "model" for t in case.targets.all())
    # An opened case is never pre-segmented automatically again.
    opened = factories.case(project, status=CaseStatus.IN_PROGRESS)
    factories.target(opened)
    assert not presegment.queue_case(opened)


def test_echo_clip_gets_one_mask_per_frame(people, model, django_capture_on_commit_callbacks):
    echo = factories.project("echo", kind="video", modality="US", annotator=[people["annotator"]])
    frames = np.random.default_rng(1).integers(0, 255, (7, 40, 40), dtype=np.uint8)
    case = factories.case(echo, assignee=people["annotator"], array=frames)
    target = factories.target(case, key_index=3, box=[5, 5, 30, 30])
    with django_capture_on_commit_callbacks(execute=True):
        job = presegment.request(target, actor=people["annotator"])
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.total >= 7 and job.done == job.total


def test_api_presegment_and_jobs(ctx, client_for, django_capture_on_commit_callbacks):
    case, target, user = ctx
    client = client_for(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/v1/targets/{target.pk}/presegment",
            {"prompts": [{"index": 2, "box": [12, 10, 28, 26]}], "options": {"window": "lung"}},
            format="json",
        )
    assert response.status_code == 202, response.data
    job_id = response.data["id"]
    detail = client.get(f"/api/v1/jobs/{job_id}/").data
    assert detail["status"] == "done" and detail["options"] == {"window": "lung"}
    listing = client.get(f"/api/v1/cases/{case.pk}/jobs/").data["results"]
    assert [j["id"] for j in listing] == [job_id]
    bad = client.post(
        f"/api/v1/targets/{target.pk}/presegment", {"prompts": [{"index": 2}]}, format="json"
    )
    assert bad.status_code == 400


@pytest.mark.django_db(transaction=True)
def test_broker_down_gives_503_and_no_stuck_job(ctx, client_for, monkeypatch):
    from kombu.exceptions import OperationalError

    from annotator.modelops import tasks

    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.presegment_target, "delay", refuse)
    case, target, user = ctx
    # Autocommit (a transactional test): the enqueue runs when the request's transaction commits.
    response = client_for(user).post(f"/api/v1/targets/{target.pk}/presegment", {}, format="json")
    assert response.status_code == 503 and "queue is unavailable" in response.data["detail"]
    job = PresegmentJob.objects.get()
    assert job.status == JobStatus.FAILED and "unavailable" in job.message
