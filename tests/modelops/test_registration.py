"""Registering weights from a management command (bootstrap_model, fetch_medsam2): production
only when asked or when the scope has none, and only above the quality floor unless overridden
with a reason; a refused checkpoint is a CommandError."""

import pytest
import torch
from django.core.management import CommandError

from annotator.audit.models import AuditEvent
from annotator.registry import quality
from annotator.registry.models import ModelOrigin, ModelStatus, ModelVersion
from annotator.registry.registration import register_from_command, registered_line
from inference.checkpoint import save_checkpoint
from inference.model import TINY_TEST, build_model

pytestmark = pytest.mark.django_db


def checkpoint(tmp_path, seed: int):
    torch.manual_seed(seed)
    path = tmp_path / f"w{seed}.pt"
    save_checkpoint(build_model(TINY_TEST), path)
    return path


GOOD = quality.metrics({"ct": {"dice": 0.9, "n": 8}}, source="phantoms")
WEAK = quality.metrics({"ct": {"dice": 0.1, "n": 8}}, source="phantoms")


def register(path, project=None, promote=False, metrics=GOOD, override=""):
    return register_from_command(
        path,
        name=path.stem,
        origin=ModelOrigin.BOOTSTRAP,
        config=TINY_TEST,
        metrics=metrics,
        reason="test",
        project=project,
        promote=promote,
        override=override,
    )


def test_first_of_a_scope_is_promoted_later_ones_only_when_asked(settings, tmp_path, project):
    settings.MODEL_STORE = tmp_path / "models"
    first = register(checkpoint(tmp_path, 0), project=project)
    assert first.status == ModelStatus.PRODUCTION and first.project == project
    assert not (tmp_path / "w0.pt").exists()  # moved into the store
    second = register(checkpoint(tmp_path, 1), project=project)
    assert second.status != ModelStatus.PRODUCTION
    third = register(checkpoint(tmp_path, 2), project=project, promote=True)
    first.refresh_from_db()
    assert third.status == ModelStatus.PRODUCTION and first.status == ModelStatus.RETIRED
    assert registered_line(third) == f"registered w2 (sha256 {third.checksum[:12]}…, production)"


def test_a_refused_checkpoint_is_a_command_error(settings, tmp_path):
    settings.MODEL_STORE = tmp_path / "models"
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CommandError):
        register(junk)


def test_below_the_floor_it_stays_a_candidate_and_says_why(settings, tmp_path, project):
    settings.MODEL_STORE = tmp_path / "models"
    weak = register(checkpoint(tmp_path, 0), project=project, metrics=WEAK)
    assert weak.status == ModelStatus.CANDIDATE  # the scope had no production model
    line = registered_line(weak)
    assert "stays a candidate: held-out CT Dice 0.100 is below the floor 0.50" in line
    assert "--override" in line
    asked = register(checkpoint(tmp_path, 1), project=project, metrics=WEAK, promote=True)
    assert asked.status == ModelStatus.CANDIDATE  # --promote alone is not enough
    forced = register(
        checkpoint(tmp_path, 2), project=project, metrics=WEAK, promote=True, override="demo"
    )
    assert forced.status == ModelStatus.PRODUCTION and forced.override["reason"] == "demo"
    assert AuditEvent.objects.get(action="model.promote").data["override"] == "demo"


def test_published_weights_without_figures_stay_candidates(settings, tmp_path, project):
    settings.MODEL_STORE = tmp_path / "models"
    path = checkpoint(tmp_path, 0)
    fetched = register(path, metrics=quality.metrics({}, source="none", file=path.name))
    assert fetched.status == ModelStatus.CANDIDATE
    assert "no held-out CT Dice" in registered_line(fetched)


def test_fetch_medsam2_registers_a_candidate_until_an_admin_overrides(
    settings, tmp_path, project, monkeypatch, capsys
):
    """The command end to end, with the download replaced by a tiny checkpoint."""
    from types import SimpleNamespace

    from django.core.management import call_command

    import inference.fetch
    import inference.model

    settings.MODEL_STORE = tmp_path / "models"
    seeds = iter(range(10))

    def fake_fetch(variant, dest, **kwargs):
        return SimpleNamespace(path=checkpoint(tmp_path, next(seeds)))

    monkeypatch.setattr(inference.fetch, "fetch_weights", fake_fetch)
    monkeypatch.setattr(inference.model, "MEDSAM2", TINY_TEST)
    call_command("fetch_medsam2", no_progress=True)
    out = capsys.readouterr().out
    assert "candidate" in out and "no held-out CT Dice" in out
    version = ModelVersion.objects.get()
    assert version.status == ModelStatus.CANDIDATE
    assert version.metrics == {"heldout": {}, "source": "none", "file": "w0.pt"}
    call_command("fetch_medsam2", no_progress=True, promote=True, override="trusted weights")
    promoted = ModelVersion.objects.get(status=ModelStatus.PRODUCTION)
    assert promoted.override["reason"] == "trusted weights"
    # The heart checkpoint for echo clips only: a second production version, beside the first.
    call_command(
        "fetch_medsam2",
        no_progress=True,
        variant="us_heart",
        kind="echo",
        promote=True,
        override="the published echo model",
    )
    echo = ModelVersion.objects.get(status=ModelStatus.PRODUCTION, kind="echo")
    assert echo.name == "MedSAM2 us_heart (echo)" and echo.project is None
    assert ModelVersion.objects.get(status=ModelStatus.PRODUCTION, kind="") == promoted
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("fetch_medsam2", "--no-progress", "--kind", "heart")
