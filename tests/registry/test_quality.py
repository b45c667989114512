"""The one metrics schema (and its reader of the old keys), the quality floor, and promotion
over a failed gate or the floor: only with a written reason, audited, shown."""

import importlib

import pytest
from django.apps import apps
from django.test import Client

from annotator.audit.models import AuditEvent
from annotator.core.errors import Conflict, InvalidInput
from annotator.registry import quality, services
from annotator.registry.models import ModelStatus, ModelVersion
from tests import factories

ISSUE_14 = {"ct": 0.0, "mr": 0.1, "echo": 0.75, "lesions": 0.05, "steps": 300}


def test_read_metrics_understands_every_old_shape():
    old_bootstrap = quality.read_metrics({"heldout_dice": ISSUE_14})
    assert old_bootstrap["source"] == "phantoms"
    assert old_bootstrap["heldout"]["ct"] == {"dice": 0.0, "nsd": None, "n": None}
    assert old_bootstrap["heldout"]["echo"]["dice"] == 0.75
    assert "lesions" not in old_bootstrap["heldout"]
    assert old_bootstrap["training"]["steps"] == 300
    old_round = {"final_loss": 0.3, "steps": 60, "heldout": {"n": 2, "dice": 0.81, "nsd": 0.9}}
    assert quality.read_metrics(old_round, "mr") == {
        "heldout": {"mr": {"dice": 0.81, "nsd": 0.9, "n": 2}},
        "source": "round",
        "training": {"final_loss": 0.3, "steps": 60},
    }
    old_published = quality.read_metrics({"source": "MedSAM2_latest.pt"})
    assert old_published == {"heldout": {}, "source": "none", "file": "MedSAM2_latest.pt"}
    new = quality.metrics({"ct": {"dice": 0.9, "n": 3}}, source="round", gate={"passed": True})
    assert quality.read_metrics(new) == new  # the schema reads as itself


def version_with(tmp_path, metrics, *, project=None, seed=5):
    v = factories.tiny_model_version(tmp_path, project=project, seed=seed, promote=False)
    ModelVersion.objects.filter(pk=v.pk).update(metrics=metrics)
    v.refresh_from_db()
    return v


def test_the_floor_follows_the_kinds_a_project_uses(project, tmp_path):
    echo = factories.project("echo", kind="video", modality="US")
    weak = version_with(tmp_path, {"heldout_dice": ISSUE_14}, project=project)
    assert quality.project_kinds(project) == ["ct"]
    assert quality.floor_problems(weak) == ["held-out CT Dice 0.000 is below the floor 0.50"]
    echo_model = version_with(tmp_path, {"heldout_dice": ISSUE_14}, project=echo, seed=6)
    assert quality.floor_problems(echo_model) == [
        "held-out echo Dice 0.750 is below the floor 0.80"
    ]
    services.set_quality_floor(echo, {"echo": 0.7})
    assert quality.floor_problems(echo_model) == []
    # An MR case imported into the CT project: MR is a kind the project uses too.
    factories.case(project)
    from annotator.cases.models import Image

    Image.objects.filter(case__project=project).update(modality="MR")
    assert quality.project_kinds(project) == ["ct", "mr"]
    unevaluated = version_with(tmp_path, {}, project=project, seed=7)
    assert quality.floor_problems(unevaluated) == [
        "no held-out CT Dice (not evaluated on CT)",
        "no held-out MR Dice (not evaluated on MR)",
    ]


def test_a_global_model_must_clear_the_floor_of_every_project_it_would_serve(db, tmp_path):
    fresh = version_with(tmp_path, {"heldout_dice": ISSUE_14})
    # no project yet: the default floors on the kinds it was evaluated on
    assert quality.floor_problems(fresh) == [
        "held-out CT Dice 0.000 is below the floor 0.50",
        "held-out MR Dice 0.100 is below the floor 0.50",
        "held-out echo Dice 0.750 is below the floor 0.80",
    ]
    assert quality.floor_problems(version_with(tmp_path, {}, seed=6)) == [
        "it has no held-out figures (not evaluated)"
    ]
    mr = factories.project("mr", modality="MR")
    services.set_quality_floor(mr, {"mr": 0.05})
    assert quality.floor_problems(fresh) == []  # the MR project is all it would serve
    factories.tiny_model_version(tmp_path, project=mr, seed=8)  # now it has its own
    assert quality.floor_problems(fresh) == [
        "held-out CT Dice 0.000 is below the floor 0.50",
        "held-out MR Dice 0.100 is below the floor 0.50",
        "held-out echo Dice 0.750 is below the floor 0.80",
    ]


def test_bad_floors_are_refused(project):
    with pytest.raises(InvalidInput, match="unknown kind"):
        services.set_quality_floor(project, {"liver": 0.5})
    with pytest.raises(InvalidInput, match="between 0 and 1"):
        services.set_quality_floor(project, {"ct": 1.5})
    assert quality.floors_for(project) == quality.DEFAULT_FLOORS


def test_promotion_over_a_failed_gate_needs_a_reason_and_is_audited(project, people, tmp_path):
    factories.tiny_model_version(tmp_path, project=project, seed=1)
    failed = version_with(
        tmp_path,
        quality.metrics(
            {"ct": {"dice": 0.9, "n": 4}},
            source="round",
            gate={"passed": False, "reason": "Dice fell for lesion"},
        ),
        project=project,
    )
    for blank in ("", "   "):
        with pytest.raises(Conflict, match="needs an override") as refused:
            services.promote(failed, actor=people["admin"], override=blank)
        assert refused.value.extra["problems"] == [
            "it failed its round's gate: Dice fell for lesion"
        ]
    failed.refresh_from_db()
    assert failed.status == ModelStatus.CANDIDATE
    services.promote(failed, actor=people["admin"], override="lesion labels were relabelled")
    failed.refresh_from_db()
    assert failed.status == ModelStatus.PRODUCTION
    assert failed.override["reason"] == "lesion labels were relabelled"
    assert failed.override["by"] == "admin"
    event = AuditEvent.objects.filter(action="model.promote").latest("id")
    assert event.data["override"] == "lesion labels were relabelled"
    assert event.data["problems"] == ["it failed its round's gate: Dice fell for lesion"]


def test_a_clean_promotion_records_no_override(project, tmp_path):
    good = version_with(
        tmp_path, quality.metrics({"ct": {"dice": 0.9}}, source="phantoms"), project=project
    )
    services.promote(good)
    good.refresh_from_db()
    assert good.status == ModelStatus.PRODUCTION and good.override == {}
    assert AuditEvent.objects.filter(action="model.promote").latest("id").data["problems"] == []


def test_models_page_shows_figures_of_old_and_new_rows_reasons_and_overrides(
    project, people, tmp_path
):
    old = version_with(tmp_path, {"heldout_dice": ISSUE_14}, project=project, seed=6)
    admin = Client()
    admin.force_login(people["admin"])
    page = admin.get(f"/projects/{project.pk}/models/").content.decode()
    assert "CT 0.0" in page and "MR 0.1" in page and "echo 0.75" in page
    assert "below the floor 0.50" in page and "Promote anyway" in page
    refused = admin.post(
        f"/projects/{project.pk}/models/promote", {"version": old.pk}, follow=True
    ).content.decode()
    assert "needs an override" in refused
    old.refresh_from_db()
    assert old.status == ModelStatus.CANDIDATE
    done = admin.post(
        f"/projects/{project.pk}/models/promote",
        {"version": old.pk, "override": "demo only, known weak"},
        follow=True,
    ).content.decode()
    old.refresh_from_db()
    assert old.status == ModelStatus.PRODUCTION
    assert "Promoted over: held-out CT Dice 0.000 is below the floor 0.50" in done
    assert "demo only, known weak" in done


def test_the_data_migration_rewrites_old_keys(project, tmp_path):
    old_bootstrap = version_with(tmp_path, {"heldout_dice": ISSUE_14}, seed=6)
    old_round = version_with(
        tmp_path, {"heldout": {"n": 2, "dice": 0.8, "nsd": 0.7}}, project=project, seed=7
    )
    migration = importlib.import_module("annotator.registry.migrations.0003_metrics_schema")
    migration.forwards(apps, None)
    old_bootstrap.refresh_from_db()
    old_round.refresh_from_db()
    assert old_bootstrap.metrics["heldout"]["mr"]["dice"] == 0.1
    assert old_bootstrap.metrics["source"] == "phantoms"
    assert old_round.metrics["heldout"] == {"ct": {"dice": 0.8, "nsd": 0.7, "n": 2}}
