import pytest
import torch

from annotator.audit.models import AuditEvent
from annotator.core.errors import Conflict, InvalidInput
from annotator.registry import services
from annotator.registry.models import ModelOrigin, ModelStatus, ModelVersion
from annotator.registry.selectors import production_model
from inference.checkpoint import save_checkpoint
from inference.model import TINY_TEST, build_model
from tests import factories


def test_register_verifies_stores_by_checksum_and_dedupes(db, tmp_path, settings):
    torch.manual_seed(0)
    path = tmp_path / "m.pt"
    save_checkpoint(build_model(TINY_TEST), path)
    v1 = services.register(path, name="a", origin=ModelOrigin.IMPORTED, config=TINY_TEST)
    assert v1.status == ModelStatus.CANDIDATE and services.model_path(v1).is_file()
    assert services.model_path(v1).name == f"{v1.checksum}.pt"
    assert services.register(path, name="b", origin=ModelOrigin.IMPORTED, config=TINY_TEST) == v1
    with pytest.raises(InvalidInput, match="not a usable"):
        services.register(path, name="c", origin=ModelOrigin.IMPORTED, config="starter_s256")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InvalidInput, match="not a usable"):
        services.register(tmp_path / "junk.pt", name="d", origin=ModelOrigin.IMPORTED,
                          config=TINY_TEST)  # fmt: skip


def test_an_unknown_config_is_refused_with_400(db, tmp_path, client_for, people):
    path = tmp_path / "m.pt"
    save_checkpoint(build_model(TINY_TEST), path)
    with pytest.raises(InvalidInput, match="unknown model config"):
        services.register(path, name="x", origin=ModelOrigin.IMPORTED, config="no_such_config")
    with path.open("rb") as fh:
        response = client_for(people["admin"]).post(
            "/api/v1/models/",
            {"file": fh, "name": "x", "config": "no_such_config"},
            format="multipart",
        )
    assert response.status_code == 400 and "unknown model config" in response.json()["detail"]
    assert not ModelVersion.objects.exists()


def test_promotion_retires_and_rollback_is_a_stack(project, tmp_path):
    a = factories.tiny_model_version(tmp_path, project=project, seed=1)
    b = factories.tiny_model_version(tmp_path, project=project, seed=2)
    c = factories.tiny_model_version(tmp_path, project=project, seed=3)
    assert production_model(project) == c
    assert ModelVersion.objects.get(pk=a.pk).status == ModelStatus.RETIRED
    assert ModelVersion.objects.filter(project=project, status="production").count() == 1
    assert services.rollback(project) == b
    assert services.rollback(project) == a
    with pytest.raises(Conflict, match="nothing to roll back"):
        services.rollback(project)
    assert production_model(project) == a
    actions = list(
        AuditEvent.objects.filter(action__startswith="model.").values_list("action", flat=True)
    )
    assert actions.count("model.promote") == 3 and actions.count("model.rollback") == 2


def test_project_model_overrides_the_global_default(project, other_project, tmp_path):
    global_default = factories.tiny_model_version(tmp_path, seed=1)
    own = factories.tiny_model_version(tmp_path, project=project, seed=2)
    assert production_model(project) == own
    assert production_model(other_project) == global_default
