"""Hostile imports through the API and the CLI: a tiny NIfTI declaring a huge volume, and an
image that the server lacks the memory to decode, are clear 4xx answers (and CLI errors) naming
the file, never a 500 or a traceback."""

import io

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from annotator.cases.imaging import sources
from annotator.cases.models import Case
from tests.hostile import header_bomb_nifti


def _upload(client, project, data: bytes, name: str):
    f = io.BytesIO(data)
    f.name = name
    return client.post(f"/api/v1/projects/{project.pk}/cases/", {"files": [f]}, format="multipart")


def test_header_bomb_upload_is_400_naming_the_file(project, people, client_for):
    bomb = header_bomb_nifti(shape=(1024, 1024, 1024), dtype=np.int16, compressed=True)
    response = _upload(client_for(people["manager"]), project, bomb, "bomb.nii.gz")
    assert response.status_code == 400, response.content
    assert "bomb.nii.gz" in response.json()["detail"]
    assert "declares" in response.json()["detail"]
    assert not Case.objects.exists()


@pytest.fixture
def out_of_memory(monkeypatch):
    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(sources, "load_nifti", exhausted)


def test_memory_error_while_importing_is_a_4xx_naming_the_file(
    project, people, client_for, out_of_memory
):
    data = header_bomb_nifti(shape=(4, 4, 4), dtype=np.uint8, payload=bytes(64))
    response = _upload(client_for(people["manager"]), project, data, "scan.nii")
    assert 400 <= response.status_code < 500, response.content
    assert "scan.nii" in response.json()["detail"] and "memory" in response.json()["detail"]
    assert not Case.objects.exists()


def test_memory_error_on_the_cli_is_a_command_error(project, people, tmp_path, out_of_memory):
    path = tmp_path / "scan.nii"
    header_bomb_nifti(path, shape=(4, 4, 4), dtype=np.uint8, payload=bytes(64))
    with pytest.raises(CommandError, match="scan.nii.*memory"):
        call_command("import_cases", str(path), project="liver", no_progress=True)
