"""Global versions for one kind of image (published weights for one task, such as MedSAM2's
heart checkpoint for echo): what serves a case, the database's one-per-kind rule, the floor a
global kind version is held to, re-pre-segmentation after one is promoted, and the pages."""

import pytest
from django.db import IntegrityError, transaction
from django.test import Client

from annotator.annotations.models import PresegmentJob
from annotator.cases.models import CaseStatus
from annotator.core.errors import Conflict
from annotator.modelops import presegment
from annotator.registry import quality, services
from annotator.registry.models import ModelStatus, ModelVersion
from annotator.registry.selectors import production_model, serving_by_kind
from tests import factories

pytestmark = pytest.mark.django_db

OVERRIDE = "test model: random weights, not evaluated"


def _tiny(tmp_path, project=None, *, seed: int, kind: str = "", **kwargs) -> ModelVersion:
    return factories.tiny_model_version(tmp_path, project=project, seed=seed, kind=kind, **kwargs)


def test_what_serves_a_kind_the_project_first_then_the_global_kind_then_every_kind(
    project, other_project, tmp_path
):
    global_all = _tiny(tmp_path, seed=1)
    global_echo = _tiny(tmp_path, seed=2, kind="echo")
    # Both global versions are production: one for every kind, one for echo.
    assert ModelVersion.objects.filter(project=None, status="production").count() == 2
    assert production_model(other_project, "echo") == global_echo
    assert production_model(other_project, "ct") == global_all
    assert production_model(other_project) == global_all == production_model(None)
    assert production_model(None, "echo") == global_echo

    # The project's own version for every kind comes before a global kind version: it learnt
    # from the project's data; its own echo version comes before both.
    project_all = _tiny(tmp_path, project, seed=3)
    assert production_model(project, "echo") == project_all
    project_echo = _tiny(tmp_path, project, seed=4, kind="echo")
    assert production_model(project, "echo") == project_echo
    assert production_model(project, "mr") == project_all
    assert production_model(other_project, "echo") == global_echo


def test_one_global_production_per_kind_promote_and_roll_back_per_kind(tmp_path):
    global_all = _tiny(tmp_path, seed=1)
    echo_1 = _tiny(tmp_path, seed=2, kind="echo")
    echo_2 = _tiny(tmp_path, seed=3, kind="echo")
    for version in (global_all, echo_1, echo_2):
        version.refresh_from_db()
    assert (global_all.status, echo_1.status) == (ModelStatus.PRODUCTION, ModelStatus.RETIRED)
    assert echo_2.replaced == echo_1

    assert services.rollback(None, kind="echo") == echo_1
    assert production_model(None, "echo") == echo_1 and production_model(None) == global_all
    with pytest.raises(Conflict, match="no production model for MR to roll back"):
        services.rollback(None, kind="mr")

    # The database itself refuses a second global production version for the same kind.
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=echo_2.pk).update(status=ModelStatus.PRODUCTION)


def test_the_same_file_registered_for_a_kind_is_a_second_version(tmp_path):
    global_all = _tiny(tmp_path, seed=1)
    for_echo = _tiny(tmp_path, seed=1, kind="echo")
    assert for_echo != global_all and for_echo.checksum == global_all.checksum
    assert _tiny(tmp_path, seed=1, kind="echo") == for_echo  # once per kind


def test_a_global_kind_version_is_held_to_the_floor_of_projects_it_would_serve(
    project, other_project, tmp_path
):
    factories.case(project, kind="video")  # project: CT and echo; other_project: CT only
    candidate = _tiny(tmp_path, seed=1, kind="echo", promote=False)

    def with_echo_dice(dice: float) -> list[str]:
        metrics = quality.metrics({"echo": {"dice": dice, "n": 4}}, source="round")
        ModelVersion.objects.filter(pk=candidate.pk).update(metrics=metrics)
        candidate.refresh_from_db()
        return quality.floor_problems(candidate)

    assert with_echo_dice(0.9) == []  # no CT figure needed: it serves echo only
    assert with_echo_dice(0.5) == [
        f"held-out echo Dice 0.500 is below the floor 0.80 (project {project.slug})"
    ]
    # With its own echo version the project is not served by it: serving no project, the
    # version is held to the default echo floor, on its own kind only.
    services.set_quality_floor(project, {"echo": 0.4})
    assert with_echo_dice(0.5) == []
    _tiny(tmp_path, project, seed=2, kind="echo")
    assert with_echo_dice(0.5) == ["held-out echo Dice 0.500 is below the floor 0.80"]
    assert with_echo_dice(0.85) == []


def test_promoting_a_global_echo_version_represegments_the_echo_cases_it_serves(
    project, other_project, tmp_path, django_capture_on_commit_callbacks
):
    _tiny(tmp_path, seed=1)
    clip = factories.case(project, kind="video", status=CaseStatus.READY)
    volume = factories.case(project, status=CaseStatus.READY)
    own_clip = factories.case(other_project, kind="video", status=CaseStatus.READY)
    for case in (clip, volume, own_clip):
        factories.target(case)
    _tiny(tmp_path, other_project, seed=2, kind="echo")  # other_project's echo is its own
    new = _tiny(tmp_path, seed=3, kind="echo", promote=False)
    with django_capture_on_commit_callbacks(execute=True):
        services.promote(new, override=OVERRIDE)
    jobs = list(PresegmentJob.objects.all())
    assert {j.case_id for j in jobs} == {clip.pk}
    assert all(j.model_version == new for j in jobs)
    assert presegment.serving_model(volume) != new and presegment.serving_model(own_clip) != new


def test_the_api_and_pages_show_and_roll_back_what_serves_each_kind(
    project, people, tmp_path, client_for
):
    factories.case(project, kind="video")
    global_all = _tiny(tmp_path, seed=1)
    first_echo = _tiny(tmp_path, seed=2, kind="echo")
    global_echo = _tiny(tmp_path, seed=3, kind="echo")
    assert serving_by_kind(project) == {"ct": global_all, "echo": global_echo}
    member = client_for(people["annotator"]).get(f"/api/v1/models/{global_echo.pk}/")
    assert member.status_code == 200 and member.json()["kind"] == "echo"
    refused = client_for(people["manager"]).post("/api/v1/models/rollback?kind=echo")
    assert refused.status_code == 403
    back = client_for(people["admin"]).post("/api/v1/models/rollback?kind=echo")
    assert back.status_code == 200 and back.json()["id"] == first_echo.pk
    assert production_model(project, "echo") == first_echo
    assert production_model(project, "ct") == global_all
    global_echo = first_echo

    manager = Client()
    manager.force_login(people["manager"])
    models_html = manager.get(f"/projects/{project.pk}/models/").content.decode()
    assert "(serves echo)" in models_html and "(serves the other kinds)" in models_html
    assert "global default · echo only" in models_html
    rounds_html = manager.get(f"/projects/{project.pk}/rounds/").content.decode()
    assert f'data-kind-production="echo">{global_echo.name}<' in rounds_html


def test_an_imported_checkpoint_can_serve_one_kind(project, people, tmp_path, client_for):
    import torch

    from inference.checkpoint import save_checkpoint
    from inference.model import TINY_TEST, build_model

    torch.manual_seed(7)
    path = tmp_path / "echo.pt"
    save_checkpoint(build_model(TINY_TEST), path)
    admin = client_for(people["admin"])

    def upload(**fields):
        with path.open("rb") as fh:
            return admin.post(
                "/api/v1/models/",
                {"file": fh, "name": "echo weights", "config": TINY_TEST, **fields},
                format="multipart",
            )

    refused = upload(kind="heart")
    assert refused.status_code == 400 and "kind" in refused.json()
    assert not ModelVersion.objects.exists()
    made = upload(kind="echo", project=project.pk)
    assert made.status_code == 201 and made.json()["kind"] == "echo"
    assert made.json()["status"] == ModelStatus.CANDIDATE
    assert ModelVersion.objects.get().kind == "echo"
    assert upload().json()["kind"] == ""  # the same file again, for every kind of image
