"""manage.py bootstrap_model: trains on phantoms, reports held-out Dice, registers, promotes."""

import pytest
from django.core.management import CommandError, call_command

from annotator.registry.models import ModelOrigin, ModelStatus, ModelVersion
from inference.checkpoint import load_checkpoint
from inference.model import TINY_TEST

pytestmark = pytest.mark.django_db


def test_bootstrap_registers_and_promotes_a_starter_once(settings, tmp_path, capsys):
    settings.MODEL_STORE = tmp_path / "models"
    call_command("bootstrap_model", steps=2, config=TINY_TEST, heldout=1)
    out = capsys.readouterr().out
    assert "held-out Dice" in out and "registered" in out
    version = ModelVersion.objects.get()
    assert version.origin == ModelOrigin.BOOTSTRAP and version.status == ModelStatus.PRODUCTION
    assert version.config == TINY_TEST
    scores = version.metrics["heldout_dice"]
    assert {"ct", "mr", "echo", "lesions", "steps"} <= set(scores) and scores["steps"] == 2
    assert all(0.0 <= scores[k] <= 1.0 for k in ("ct", "mr", "echo"))
    load_checkpoint(settings.MODEL_STORE / version.file, TINY_TEST)  # stored, loads strictly
    assert not list((settings.MODEL_STORE / "bootstrap").iterdir())  # no leftovers

    call_command("bootstrap_model", steps=2, config=TINY_TEST, heldout=1, if_missing=True)
    assert "nothing to do" in capsys.readouterr().out
    assert ModelVersion.objects.count() == 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"minutes": 0}, "must be positive"),
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
