"""A round's training under torchrun (2 CPU processes, gloo): the worker's side of it."""

import json

from annotator.modelops import round_dist
from inference.checkpoint import read_state_dict
from inference.model import TINY_TEST
from inference.phantoms import make_phantoms
from inference.train import TrainConfig, TrainItem
from inference.train_dist import PROGRESS_FILE, RESULT_FILE


def test_launch_command_single_and_multi_node(tmp_path):
    one = round_dist.launch_command(tmp_path, 4, 1, "", "r")
    assert "--standalone" in one and "--nproc_per_node=4" in one
    assert one[-3:] == ["inference.train_dist", "--run-dir", str(tmp_path)]
    many = round_dist.launch_command(tmp_path, 8, 2, "head:29400", "round-7-1")
    assert "--standalone" not in many
    assert {"--nnodes=2", "--rdzv_backend=c10d", "--rdzv_endpoint=head:29400",
            "--rdzv_id=round-7-1"} <= set(many)  # fmt: skip


def test_a_round_trains_with_two_processes_and_reports_progress(tmp_path, settings):
    settings.TRAIN_PROCESSES_PER_NODE = 2
    assert round_dist.distributed()
    items = [TrainItem(p.image, p.mask, p.modality, p.window, p.label, p.is_video)
             for p in make_phantoms(["ct", "mr"], 2, seed=0)]  # fmt: skip
    config = TrainConfig(model_config=TINY_TEST, steps=2, batch_size=2, clip_len=2, device="cpu")
    seen = []
    result = round_dist.train_with_torchrun(
        items, config, tmp_path, init_checkpoint=None, run_id="t",
        progress=lambda *a: seen.append(a), should_stop=lambda: False,
    )  # fmt: skip
    assert result.status == "finished" and result.step == 2 == result.total_steps
    assert read_state_dict(result.model_path)
    assert seen and seen[-1][:2] == (2, 2)
    assert json.loads((tmp_path / RESULT_FILE).read_text())["config"]["batch_size"] == 2
    assert json.loads((tmp_path / PROGRESS_FILE).read_text())["step"] == 2


def test_a_round_batch_is_one_clip_per_process(settings):
    assert not round_dist.distributed() and round_dist.global_batch() == 1
    settings.TRAIN_PROCESSES_PER_NODE, settings.TRAIN_NNODES = 4, 2
    assert round_dist.distributed() and round_dist.global_batch() == 8
