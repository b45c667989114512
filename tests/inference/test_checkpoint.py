from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from inference.checkpoint import (
    CheckpointError,
    load_checkpoint,
    read_state_dict,
    save_checkpoint,
    sha256_file,
)
from inference.model import STARTER, TINY_TEST
from tests.inference.conftest import tiny_model


def _state(path: str) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def test_round_trip_keeps_weights_and_records_sha256(tiny_checkpoint, tmp_path):
    path, digest = tiny_checkpoint
    assert digest == hashlib.sha256(Path(path).read_bytes()).hexdigest()
    loaded = load_checkpoint(path, TINY_TEST, device="cpu")
    assert loaded.sha256 == digest == sha256_file(path)
    assert loaded.device == torch.device("cpu")
    assert loaded.image_size == 128
    assert loaded.autocast_dtype is None  # fp32 on the CPU
    assert not loaded.model.training
    saved = _state(path)
    for key, value in loaded.model.state_dict().items():
        assert torch.equal(value, saved[key]), key
    # Saving the loaded model again gives the same weights; loading twice, the same hash.
    again = tmp_path / "again.pt"
    save_checkpoint(loaded.model, again)
    assert load_checkpoint(again, TINY_TEST, device="cpu").sha256 == sha256_file(again)
    assert load_checkpoint(path, TINY_TEST, device="cpu").sha256 == digest
    resaved = _state(str(again))
    assert all(torch.equal(v, resaved[k]) for k, v in saved.items())


def test_official_format_is_a_dict_with_model(tiny_checkpoint):
    payload = torch.load(tiny_checkpoint[0], map_location="cpu", weights_only=True)
    assert set(payload) == {"model"}
    assert all(isinstance(v, torch.Tensor) for v in payload["model"].values())


def test_save_is_atomic_and_overwrites(tmp_path):
    target = tmp_path / "models" / "m.pt"
    first = save_checkpoint(tiny_model(seed=0), target)
    second = save_checkpoint(tiny_model(seed=1), target)
    assert first != second
    assert sha256_file(target) == second
    assert [p.name for p in target.parent.iterdir()] == ["m.pt"]  # no temp files left


def _write_modified(tmp_path, tiny_checkpoint, change) -> Path:
    state = dict(_state(tiny_checkpoint[0]))
    change(state)
    path = tmp_path / "modified.pt"
    torch.save({"model": state}, path)
    return path


def test_missing_key_is_named(tmp_path, tiny_checkpoint):
    key = "sam_mask_decoder.iou_token.weight"
    path = _write_modified(tmp_path, tiny_checkpoint, lambda s: s.pop(key))
    with pytest.raises(CheckpointError, match=r"1 missing key \(sam_mask_decoder\.iou_token"):
        load_checkpoint(path, TINY_TEST, device="cpu")


def test_unexpected_key_is_named(tmp_path, tiny_checkpoint):
    path = _write_modified(
        tmp_path, tiny_checkpoint, lambda s: s.__setitem__("extra.weight", torch.zeros(2))
    )
    with pytest.raises(CheckpointError, match=r"1 unexpected key \(extra\.weight\)"):
        load_checkpoint(path, TINY_TEST, device="cpu")


def test_wrong_shape_is_named_with_both_shapes(tmp_path, tiny_checkpoint):
    key = "no_mem_embed"
    path = _write_modified(
        tmp_path, tiny_checkpoint, lambda s: s.__setitem__(key, torch.zeros(1, 1, 7))
    )
    with pytest.raises(
        CheckpointError, match=r"mis-shaped key.*no_mem_embed: checkpoint \(1, 1, 7\)"
    ):
        load_checkpoint(path, TINY_TEST, device="cpu")


def test_checkpoint_of_another_config_is_refused(tiny_checkpoint):
    with pytest.raises(CheckpointError, match=f"does not match config '{STARTER}'") as info:
        load_checkpoint(tiny_checkpoint[0], STARTER, device="cpu")
    assert "mis-shaped key" in str(info.value)


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_file_is_refused(tmp_path, tiny_checkpoint, cut):
    data = Path(tiny_checkpoint[0]).read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(path, TINY_TEST, device="cpu")


def test_garbage_and_missing_files_are_refused(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint" * 10)
    with pytest.raises(CheckpointError, match="cannot be read"):
        read_state_dict(garbage)
    with pytest.raises(CheckpointError, match="does not exist"):
        read_state_dict(tmp_path / "nope.pt")


def test_file_without_model_entry_is_refused(tmp_path, tiny_checkpoint):
    path = tmp_path / "raw.pt"
    torch.save({"state_dict": _state(tiny_checkpoint[0])}, path)
    with pytest.raises(CheckpointError, match='no "model" entry.*state_dict'):
        load_checkpoint(path, TINY_TEST, device="cpu")
    bare = tmp_path / "bare.pt"
    torch.save(torch.zeros(3), bare)
    with pytest.raises(CheckpointError, match='no "model" entry'):
        read_state_dict(bare)


class _Payload:  # pickled code objects must not load: weights_only
    pass


def test_pickled_objects_are_refused(tmp_path, tiny_checkpoint):
    path = tmp_path / "unsafe.pt"
    torch.save({"model": _state(tiny_checkpoint[0]), "extra": _Payload()}, path)
    with pytest.raises(CheckpointError, match="cannot be read"):
        read_state_dict(path)


def test_unknown_config_is_a_value_error(tiny_checkpoint):
    with pytest.raises(ValueError, match="unknown model config"):
        load_checkpoint(tiny_checkpoint[0], "no_such_config", device="cpu")
