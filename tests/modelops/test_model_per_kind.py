"""A model per kind of image: the registry serves each kind of a project its own production
version (else the project's version for every kind, else the global default); a round of one
kind snapshots and trains that kind only, from the model serving it, and its candidate serves
that kind alone; pre-segmentation, re-pre-segmentation, schedules, the API and the pages follow.
"""

import numpy as np
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from annotator.annotations.masks import summarize
from annotator.annotations.models import PresegmentJob, Review
from annotator.annotations.services import store_revision
from annotator.cases.models import CaseStatus, Image
from annotator.core.errors import Conflict, InvalidInput
from annotator.modelops import presegment, rounds, schedules
from annotator.modelops.models import RoundPolicy, RoundStatus, TrainingRound
from annotator.registry import quality, services
from annotator.registry.models import ModelStatus, ModelVersion
from annotator.registry.selectors import kind_productions, production_model
from tests import factories
from tests.modelops.helpers import blob_case


def _tiny(tmp_path, project=None, *, seed: int, kind: str = "", **kwargs) -> ModelVersion:
    return factories.tiny_model_version(tmp_path, project=project, seed=seed, kind=kind, **kwargs)


@pytest.fixture
def mixed(project, people):
    """Three accepted CT volumes and three accepted echo clips in one project."""
    who = (people["annotator"], people["reviewer"])
    ct = [blob_case(project, *who, seed=s)[0] for s in range(3)]
    echo = [blob_case(project, *who, seed=10 + s, kind="video")[0] for s in range(3)]
    return ct, echo


def test_a_kind_version_serves_its_kind_and_the_rest_falls_back(project, other_project, tmp_path):
    global_default = _tiny(tmp_path, seed=1)
    general = _tiny(tmp_path, project, seed=2)
    echo_1 = _tiny(tmp_path, project, seed=3, kind="echo")
    assert production_model(project, "echo") == echo_1
    assert production_model(project, "ct") == general == production_model(project)
    assert production_model(other_project, "echo") == global_default
    assert kind_productions(project) == [echo_1] and kind_productions(other_project) == []

    # Promoting a version for one kind retires that kind's production only.
    echo_2 = _tiny(tmp_path, project, seed=4, kind="echo")
    for version in (general, echo_1, echo_2):
        version.refresh_from_db()
    assert (general.status, echo_1.status) == (ModelStatus.PRODUCTION, ModelStatus.RETIRED)
    assert echo_2.replaced == echo_1
    assert ModelVersion.objects.filter(project=project, status="production").count() == 2

    # Rolling back is per kind too.
    assert services.rollback(project, kind="echo") == echo_1
    assert production_model(project, "echo") == echo_1 and production_model(project) == general
    with pytest.raises(Conflict, match="no production model for MR to roll back"):
        services.rollback(project, kind="mr")
    with pytest.raises(Conflict, match="replaced no earlier model"):
        services.rollback(project)  # the version for every kind replaced none


def test_a_kind_version_is_held_to_its_own_kind_floor_only(project, tmp_path):
    factories.case(project, kind="video")  # the project now uses CT and echo
    figures = quality.metrics({"echo": {"dice": 0.9, "n": 3}}, source="round")
    for_echo = _tiny(tmp_path, project, seed=1, kind="echo", promote=False)
    for_all = _tiny(tmp_path, project, seed=2, promote=False)
    ModelVersion.objects.filter(pk__in=[for_echo.pk, for_all.pk]).update(metrics=figures)
    for_echo.refresh_from_db()
    for_all.refresh_from_db()
    assert quality.floor_problems(for_echo) == []
    assert quality.floor_problems(for_all) == ["no held-out CT Dice (not evaluated on CT)"]
    ModelVersion.objects.filter(pk=for_echo.pk).update(
        metrics=quality.metrics({"echo": {"dice": 0.5, "n": 3}}, source="round")
    )
    for_echo.refresh_from_db()
    assert quality.floor_problems(for_echo) == ["held-out echo Dice 0.500 is below the floor 0.80"]


def test_the_kind_filter_agrees_with_kind_of(db):
    images = []
    for modality in ("CT", "MR", "PT", "US", "OT"):
        owner = factories.project(f"m-{modality.lower()}", modality=modality)
        for image_kind in ("volume", "video"):
            images.append(factories.case(owner, kind=image_kind).image)
    for kind in quality.KINDS:
        found = set(Image.objects.filter(quality.images_of_kind(kind)).values_list("pk", flat=True))
        assert found == {i.pk for i in images if quality.kind_of(i.kind, i.modality) == kind}
    with pytest.raises(InvalidInput, match="unknown kind of image 'xray'"):
        quality.check_kind("xray")
    assert quality.check_kind(None) == "" == quality.check_kind("")


def test_a_round_of_one_kind_snapshots_that_kind_from_the_model_serving_it(
    project, people, mixed, tmp_path
):
    ct, echo = mixed
    general = _tiny(tmp_path, project, seed=1)
    round_ = rounds.start_round(project, kind="echo")
    assert (round_.kind, round_.base_model) == ("echo", general)
    assert set(round_.snapshot.entries.values_list("case_id", flat=True)) == {c.pk for c in echo}
    TrainingRound.objects.update(status=RoundStatus.CANDIDATE)
    # The CT masks are still new to a CT round (or one of every kind); the echo ones are not.
    assert rounds.new_accepted_since_last_round(project, "echo") == 0
    assert rounds.new_accepted_since_last_round(project, "ct") == 3
    assert rounds.new_accepted_since_last_round(project) == 6
    with pytest.raises(Conflict, match="no echo mask was accepted since round 1"):
        rounds.start_round(project, kind="echo")
    with pytest.raises(InvalidInput, match="unknown kind of image"):
        rounds.start_round(project, kind="xray")
    with pytest.raises(InvalidInput, match="accepted masks of MR from at least 2 cases"):
        rounds.start_round(project, kind="mr")
    assert TrainingRound.objects.count() == 1

    # Once echo has a production model of its own, the next echo round starts from it.
    for_echo = _tiny(tmp_path, project, seed=2, kind="echo")
    blob_case(project, people["annotator"], people["reviewer"], seed=20, kind="video")
    again = rounds.start_round(project, kind="echo")
    assert (again.number, again.base_model) == (2, for_echo)
    TrainingRound.objects.update(status=RoundStatus.CANDIDATE)
    whole = rounds.start_round(project)
    assert (whole.kind, whole.base_model, whole.snapshot.train_count +
            whole.snapshot.heldout_count) == ("", general, 7)  # fmt: skip


def test_a_kind_round_trains_a_candidate_that_serves_that_kind(
    project, mixed, tmp_path, django_capture_on_commit_callbacks
):
    general = _tiny(tmp_path, project, seed=1, object_bias=2.0)
    with django_capture_on_commit_callbacks(execute=True):
        round_ = rounds.start_round(project, kind="echo", steps=2)
    round_.refresh_from_db()
    assert round_.status == RoundStatus.CANDIDATE, round_.message
    candidate = round_.candidate
    assert (candidate.kind, candidate.parent) == ("echo", general)
    assert candidate.name == f"{project.slug} round 1 (echo)"
    assert set(quality.heldout(candidate)) == {"echo"}
    services.promote(candidate, override="test: two training steps")
    assert production_model(project, "echo") == candidate
    assert production_model(project, "ct") == general


def test_pre_segmentation_uses_the_model_serving_the_case_kind(
    project, tmp_path, django_capture_on_commit_callbacks
):
    general = _tiny(tmp_path, project, seed=1)
    for_echo = _tiny(tmp_path, project, seed=2, kind="echo")
    clip, volume = factories.case(project, kind="video"), factories.case(project)
    for case in (clip, volume):
        factories.target(case)
    with django_capture_on_commit_callbacks(execute=True):
        assert presegment.queue_case(clip) and presegment.queue_case(volume)
    made = {j.case_id: j.model_version for j in PresegmentJob.objects.all()}
    assert made == {clip.pk: for_echo, volume.pk: general}


def test_promoting_a_kind_version_represegments_only_that_kind(
    project, tmp_path, django_capture_on_commit_callbacks
):
    _tiny(tmp_path, project, seed=1)
    clip = factories.case(project, kind="video", status=CaseStatus.READY)
    volume = factories.case(project, status=CaseStatus.READY)
    for case in (clip, volume):
        factories.target(case)
    new = _tiny(tmp_path, project, seed=2, kind="echo", promote=False)
    with django_capture_on_commit_callbacks(execute=True):
        services.promote(new, override="test model: random weights, not evaluated")
    jobs = list(PresegmentJob.objects.all())
    assert {j.case_id for j in jobs} == {clip.pk}
    assert all(j.model_version == new for j in jobs)


def test_represegmenting_looks_the_serving_model_up_once_per_project_and_kind(
    project, tmp_path, django_capture_on_commit_callbacks
):
    """Cases the new version does not serve cost no queries each: a project of thousands of
    unopened volumes must not make promoting an echo model slow."""
    _tiny(tmp_path, project, seed=1)
    new = _tiny(tmp_path, project, seed=2, kind="echo", promote=False)
    services.promote(new, override="test model: random weights, not evaluated")

    def queries_with(volumes: int) -> int:
        for _ in range(volumes):
            factories.target(factories.case(project, status=CaseStatus.READY))
        with CaptureQueriesContext(connection) as seen:
            assert presegment.represegment_unopened(new) == 0
        return len(seen)

    assert queries_with(1) == queries_with(5)
    assert not PresegmentJob.objects.exists()


def test_per_kind_schedules_start_the_kind_with_most_new_masks(project, people, tmp_path):
    _tiny(tmp_path, project, seed=1)
    schedules.update_policy(project, actor=people["admin"], per_kind=True, min_new_accepted=2)
    who = (people["annotator"], people["reviewer"])
    blob_case(project, *who, seed=1)
    blob_case(project, *who, seed=2)
    for s in range(3):
        blob_case(project, *who, seed=10 + s, kind="video")
    described = schedules.describe(project)
    assert described["new_by_kind"] == {"ct": 2, "echo": 3} and described["new_accepted"] == 5
    assert schedules.maybe_start(project) == "started round 1 (echo)"
    TrainingRound.objects.update(status=RoundStatus.CANDIDATE)
    assert schedules.maybe_start(project) == "started round 2 (CT)"
    assert list(TrainingRound.objects.order_by("number").values_list("kind", flat=True)) == [
        "echo",
        "ct",
    ]
    TrainingRound.objects.update(status=RoundStatus.CANDIDATE)
    assert schedules.maybe_start(project).startswith("not due: 0 new")
    with pytest.raises(InvalidInput, match="per_kind must be true or false"):
        schedules.update_policy(project, actor=people["admin"], per_kind="yes")


def test_the_api_and_pages_start_a_round_of_one_kind_and_roll_one_kind_back(
    project, people, mixed, tmp_path, client_for
):
    _tiny(tmp_path, project, seed=1)
    admin = client_for(people["admin"])
    started = admin.post(
        "/api/v1/training-rounds/", {"project": project.pk, "kind": "echo"}, format="json"
    )
    assert started.status_code == 201, started.json()
    assert started.json()["kind"] == "echo"
    refused = admin.post(
        "/api/v1/training-rounds/", {"project": project.pk, "kind": "xray"}, format="json"
    )
    assert refused.status_code == 400 and "kind" in refused.json(), refused.json()
    assert TrainingRound.objects.count() == 1

    url = f"/api/v1/projects/{project.pk}/round-policy"
    assert admin.get(url).json()["per_kind"] is True  # a new project's default
    assert admin.put(url, {"per_kind": False}, format="json").json()["per_kind"] is False
    assert admin.put(url, {"per_kind": "often"}, format="json").status_code == 400
    assert RoundPolicy.objects.get(project=project).per_kind is False
    assert admin.put(url, {"per_kind": True}, format="json").json()["per_kind"] is True

    first = _tiny(tmp_path, project, seed=2, kind="echo")
    second = _tiny(tmp_path, project, seed=3, kind="echo")
    member = client_for(people["annotator"]).get(f"/api/v1/models/{second.pk}/")
    assert member.status_code == 200 and member.json()["kind"] == "echo"
    back = admin.post(f"/api/v1/models/rollback?project={project.pk}&kind=echo")
    assert back.status_code == 200 and back.json()["id"] == first.pk
    assert admin.post(f"/api/v1/models/rollback?project={project.pk}&kind=mr").status_code == 409
    assert admin.post(f"/api/v1/models/rollback?project={project.pk}&kind=x").status_code == 400
    manager = client_for(people["manager"])
    assert (
        manager.post(f"/api/v1/models/rollback?project={project.pk}&kind=echo").status_code == 403
    )

    page = Client()
    page.force_login(people["admin"])
    rounds_html = page.get(f"/projects/{project.pk}/rounds/").content.decode()
    assert '<option value="echo">echo only</option>' in rounds_html
    assert 'name="per_kind" checked' in rounds_html
    assert f'data-kind-production="echo">{first.name}</b>' in rounds_html
    models_html = page.get(f"/projects/{project.pk}/models/").content.decode()
    assert "(serves echo)" in models_html and "(serves the other kinds)" in models_html
    services.promote(second, override="test model: random weights, not evaluated")
    page.post(f"/projects/{project.pk}/models/rollback", {"kind": "echo"})
    assert production_model(project, "echo") == first
    page.post(f"/projects/{project.pk}/models/rollback", {"kind": "xray"})
    assert production_model(project, "echo") == first


def test_a_kind_that_cannot_make_a_round_yet_does_not_hold_the_others_up(project, people, tmp_path):
    _tiny(tmp_path, project, seed=1)
    schedules.update_policy(project, actor=people["admin"], per_kind=True)
    annotator, reviewer = people["annotator"], people["reviewer"]
    case, _, blob = blob_case(project, annotator, reviewer, seed=1)
    second = factories.target(case)  # one CT case with two accepted masks: no round yet
    revision = store_revision(
        second, summarize(blob.astype(np.uint8)), parent_id=None, source="human", author=annotator
    ).revision
    Review.objects.create(target=second, revision=revision, reviewer=reviewer, decision="accept")
    blob_case(project, annotator, reviewer, seed=10, kind="video")
    assert schedules.due(project) == [("ct", 2), ("echo", 1)]
    refused = schedules.maybe_start(project)
    assert refused.startswith("not started: a round needs accepted masks of CT from at least 2")
    assert "accepted masks of echo from at least 2 cases" in refused
    blob_case(project, annotator, reviewer, seed=11, kind="video")
    assert schedules.due(project) == [("ct", 2), ("echo", 2)]  # CT first on a tie, and skipped
    assert schedules.maybe_start(project) == "started round 1 (echo)"
