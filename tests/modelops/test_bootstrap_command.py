"""manage.py bootstrap_model: trains on phantoms, reports held-out Dice, registers, promotes."""

import pytest
from django.core.management import CommandError, call_command

from annotator.registry.models import ModelOrigin, ModelStatus, ModelVersion
from inference.checkpoint import load_checkpoint
from inference.model import TINY_TEST

pytestmark = pytest.mark.django_db


def test_bootstrap_registers_a_starter_once_and_a_weak_one_stays_a_candidate(
    settings, tmp_path, capsys
):
    """Two steps from random weights: held-out Dice far below the floor, so the starter is
    registered (figures in the one schema) but not made production, and the command says why."""
    settings.MODEL_STORE = tmp_path / "models"
    call_command("bootstrap_model", steps=2, config=TINY_TEST, heldout=1)
    out = capsys.readouterr().out
    assert "held-out Dice" in out and "registered" in out
    version = ModelVersion.objects.get()
    assert version.origin == ModelOrigin.BOOTSTRAP and version.config == TINY_TEST
    assert version.metrics["source"] == "phantoms"
    assert set(version.metrics["heldout"]) == {"ct", "mr", "echo"}
    assert all(0.0 <= f["dice"] <= 1.0 and f["n"] == 1 for f in version.metrics["heldout"].values())
    assert version.metrics["training"]["steps"] == 2
    assert version.status == ModelStatus.CANDIDATE
    assert "stays a candidate" in out and "below the floor" in out
    load_checkpoint(settings.MODEL_STORE / version.file, TINY_TEST)  # stored, loads strictly
    assert not list((settings.MODEL_STORE / "bootstrap").iterdir())  # no leftovers
    # --if-missing keeps a good starter and trains a weak one again: tests/registry/test_starter.py


def fake_bootstrap(scores):
    """inference.bootstrap.bootstrap without the training: a tiny checkpoint and `scores`."""

    def run(out, settings_, log=print, **kwargs):
        import torch

        from inference.checkpoint import save_checkpoint
        from inference.model import build_model

        torch.manual_seed(len(str(scores)))
        save_checkpoint(build_model(TINY_TEST), out)
        return dict(scores)

    return run


@pytest.mark.parametrize(
    "scores, status",
    [
        ({"ct": 0.96, "mr": 0.96, "echo": 0.99, "steps": 9}, ModelStatus.PRODUCTION),
        ({"ct": 0.0, "mr": 0.10, "echo": 0.75, "steps": 9}, ModelStatus.CANDIDATE),  # issue #14
    ],
)
def test_the_floor_decides_whether_the_starter_becomes_production(
    scores, status, settings, tmp_path, monkeypatch, capsys
):
    import inference.bootstrap

    settings.MODEL_STORE = tmp_path / "models"
    monkeypatch.setattr(inference.bootstrap, "bootstrap", fake_bootstrap(scores))
    call_command("bootstrap_model", config=TINY_TEST, heldout=4)
    version = ModelVersion.objects.get()
    assert version.status == status
    assert version.metrics["heldout"]["ct"] == {"dice": scores["ct"], "nsd": None, "n": 4}
    if status == ModelStatus.CANDIDATE:
        out = capsys.readouterr().out
        assert "held-out CT Dice 0.000 is below the floor 0.50" in out
        assert "held-out echo Dice 0.750 is below the floor 0.80" in out


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"steps": 0}, "must be positive"),
        ({"heldout": 0}, "at least 1"),
        ({"config": "nope"}, "unknown model config"),
    ],
)
def test_bad_options(kwargs, message, settings, tmp_path):
    settings.MODEL_STORE = tmp_path / "models"
    with pytest.raises(CommandError, match=message):
        call_command("bootstrap_model", **kwargs)
    assert not ModelVersion.objects.exists()
