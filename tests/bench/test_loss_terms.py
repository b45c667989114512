"""bench/loss_terms.py on tiny models: it counts as blanked the frames sam2's object head calls
empty (every mask logit at sam2's no-object value, no gradient), and no others."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import loss_terms  # noqa: E402

from inference.checkpoint import save_checkpoint  # noqa: E402
from inference.model import TINY_TEST  # noqa: E402
from tests.inference.conftest import tiny_model  # noqa: E402


def _figures(tmp_path, capsys, object_bias: float) -> dict:
    path = tmp_path / f"tiny{object_bias}.pt"
    save_checkpoint(tiny_model(seed=0, object_bias=object_bias), path)
    assert loss_terms.main(["--checkpoint", str(path), "--config", TINY_TEST, "--clips", "1"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])["frames"]


def test_frames_the_object_head_calls_empty_are_counted_blanked(tmp_path, capsys):
    absent = _figures(tmp_path, capsys, object_bias=-20.0)
    present = _figures(tmp_path, capsys, object_bias=8.0)
    targets = [key for key in absent if key.endswith("/target")]
    assert {key.split("/")[0] for key in targets} == {"ct", "mr", "echo"}
    for key in targets:
        assert absent[key]["n"] > 0 and absent[key]["blanked"] == absent[key]["n"]
        assert absent[key]["focal_grad_max"] == 0.0  # a blanked mask's focal term has no gradient
        assert present[key]["blanked"] == 0 and present[key]["focal_grad_max"] > 0.0


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(SystemExit):
        loss_terms.main(["--checkpoint", str(tmp_path / "x.pt"), "--clips", "0"])
