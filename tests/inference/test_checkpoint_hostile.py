"""A checkpoint whose zip records declare more bytes than the file holds is refused before
torch.load allocates them."""

from __future__ import annotations

import struct

import pytest
import torch

from inference.checkpoint import CheckpointError, read_state_dict
from tests.hostile import peak_allocated


def _lying_checkpoint(path, declared: int) -> None:
    """A real torch checkpoint whose largest record claims `declared` bytes in the zip's
    central directory and local header (torch reads the sizes from there)."""
    torch.save({"model": {"w": torch.zeros(4096)}}, path)
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):
        start = 0
        while (at := data.find(signature, start)) >= 0:
            size = struct.unpack_from("<I", data, at + offset)[0]
            if size == 4096 * 4:  # the tensor's storage record
                struct.pack_into("<I", data, at + offset, declared)
                struct.pack_into("<I", data, at + offset - 4, declared)  # compressed size
            start = at + 4
    path.write_bytes(bytes(data))


def test_record_declaring_more_than_the_file_is_refused_unallocated(tmp_path):
    path = tmp_path / "lying.pt"
    _lying_checkpoint(path, 0xFFFF0000)
    peak, outcome = peak_allocated(lambda: read_state_dict(path))
    assert isinstance(outcome, CheckpointError), outcome
    assert "declares" in str(outcome)
    assert peak < 16 * 1024 * 1024


def test_honest_checkpoint_still_loads(tmp_path):
    path = tmp_path / "ok.pt"
    torch.save({"model": {"w": torch.ones(3)}}, path)
    assert torch.equal(read_state_dict(path)["w"], torch.ones(3))


@pytest.mark.parametrize("cut", [0.5])
def test_truncated_record_is_refused(tmp_path, cut):
    path = tmp_path / "cut.pt"
    torch.save({"model": {"w": torch.zeros(1 << 16)}}, path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(CheckpointError):
        read_state_dict(path)
