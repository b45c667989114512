"""Registering weights from a management command (bootstrap_model, fetch_medsam2): production
only when asked or when the scope has none; a refused checkpoint is a CommandError."""

import pytest
import torch
from django.core.management import CommandError

from annotator.registry.models import ModelOrigin, ModelStatus
from annotator.registry.registration import register_from_command, registered_line
from inference.checkpoint import save_checkpoint
from inference.model import TINY_TEST, build_model

pytestmark = pytest.mark.django_db


def checkpoint(tmp_path, seed: int):
    torch.manual_seed(seed)
    path = tmp_path / f"w{seed}.pt"
    save_checkpoint(build_model(TINY_TEST), path)
    return path


def register(path, project=None, promote=False):
    return register_from_command(
        path,
        name=path.stem,
        origin=ModelOrigin.PUBLISHED,
        config=TINY_TEST,
        metrics={"source": path.name},
        reason="test",
        project=project,
        promote=promote,
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
