"""Train from a saved item set, in one process or data-parallel under ``torchrun``.

One GPU (or the CPU), as :func:`inference.train.train` in-process::

    python -m inference.train_dist --run-dir RUN

Every GPU of one machine (one process per GPU, ``cuda:LOCAL_RANK``; nccl)::

    torchrun --standalone --nproc_per_node=4 -m inference.train_dist --run-dir RUN

Several machines: the same command on each, with ``--nnodes=2 --node_rank=K
--rdzv_backend=c10d --rdzv_endpoint=HOST:29400`` in place of ``--standalone`` (docs/deploy.md).

A run directory holds everything (so the command is the same on every machine): the items in
``RUN/items`` (what :func:`inference.train_data.save_items` wrote; or ``--items``) and
``RUN/job.json``, ``{"config": TrainConfig fields, "init": checkpoint or null}`` (what
:func:`write_job` writes; or ``--config-json`` and ``--init``); any flag given here wins.
``batch_size`` is the global batch: each of the ``WORLD_SIZE`` processes trains on
``batch_size / WORLD_SIZE`` clips of it. Rank 0 writes ``RUN/progress.json`` (step, total, loss,
eta_s; at most once a second and at the end) and ``RUN/result.json`` (status, step, loss,
model path, or the error); creating ``RUN/STOP`` stops the run at the next step with its resume
state saved (status "cancelled"); running the command again resumes. ``RUN`` must be one shared
directory for every machine (the model store). Exit status: 0 finished or cancelled, 2 failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path

import torch

from inference.train import TrainConfig, TrainingError, train
from inference.train_data import load_items

PROGRESS_FILE = "progress.json"
RESULT_FILE = "result.json"
STOP_FILE = "STOP"
JOB_FILE = "job.json"
ITEMS_DIR = "items"
PROGRESS_INTERVAL_S = 1.0

_FLAGS = {  # flag: (TrainConfig field, type)
    "--model-config": ("model_config", str),
    "--steps": ("steps", int),
    "--batch-size": ("batch_size", int),
    "--clip-len": ("clip_len", int),
    "--lr": ("lr", float),
    "--encoder-lr": ("encoder_lr", float),
    "--warmup-steps": ("warmup_steps", int),
    "--seed": ("seed", int),
    "--checkpoint-every": ("checkpoint_every", int),
    "--device": ("device", str),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m inference.train_dist",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--run-dir", required=True, help="shared run directory (resume state)")
    parser.add_argument("--items", default=None, help="item-*.npz directory (RUN/items)")
    parser.add_argument("--init", default=None, help="checkpoint to start from (job.json's)")
    parser.add_argument("--out", default=None, help="final model (default RUN/model.pt)")
    parser.add_argument("--config-json", default=None, help="TrainConfig fields as JSON")
    for flag, (_, kind) in _FLAGS.items():
        parser.add_argument(flag, type=kind, default=None)
    return parser.parse_args(argv)


def write_job(run_dir: str | Path, config: TrainConfig, init: str | Path | None) -> Path:
    """Write ``RUN/job.json``: what every rank of ``--run-dir RUN`` trains with."""
    path = Path(run_dir) / JOB_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_json(path, {"config": asdict(config), "init": str(init) if init else None})
    return path


def _job(args: argparse.Namespace) -> dict:
    path = Path(args.run_dir) / JOB_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def config_from(args: argparse.Namespace) -> TrainConfig:
    values = dict(_job(args).get("config", {}))
    if args.config_json:
        values.update(json.loads(Path(args.config_json).read_text()))
        known = {f.name for f in fields(TrainConfig)}
        unknown = set(values) - known
        if unknown:
            raise TrainingError(f"unknown TrainConfig fields: {sorted(unknown)}")
    for flag, (name, _) in _FLAGS.items():
        given = getattr(args, flag[2:].replace("-", "_"))
        if given is not None:
            values[name] = given
    return TrainConfig(**values)


def init_process_group(device: str) -> bool:
    """Join torchrun's process group (env RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT):
    nccl on CUDA, gloo on the CPU. False (nothing done) without torchrun."""
    if int(os.environ.get("WORLD_SIZE", "1")) < 2 or torch.distributed.is_initialized():
        return False
    cuda = device != "cpu" and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    torch.distributed.init_process_group("nccl" if cuda else "gloo")
    return True


def _write_json(path: Path, value: dict) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(value))
    os.replace(partial, path)  # a reader never sees half a file


def run(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    try:
        config = config_from(args)
    except (TrainingError, ValueError, TypeError, OSError) as exc:
        print(f"train_dist: {exc}", file=sys.stderr)
        return 2
    started = init_process_group(config.device)
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    run_dir.mkdir(parents=True, exist_ok=True)
    stop_file = run_dir / STOP_FILE
    last = [0.0]

    def progress(step: int, total: int, loss: float, eta: float) -> None:
        now = time.monotonic()
        if step < total and now - last[0] < PROGRESS_INTERVAL_S:
            return
        last[0] = now
        _write_json(run_dir / PROGRESS_FILE,
                    {"step": step, "total": total, "loss": loss, "eta_s": eta})  # fmt: skip

    try:
        result = train(
            load_items(args.items or run_dir / ITEMS_DIR),
            config,
            run_dir,
            init_checkpoint=args.init or _job(args).get("init"),
            out_path=args.out,
            progress=progress,
            should_stop=stop_file.exists,
        )
    except (TrainingError, ValueError) as exc:
        if rank == 0:
            _write_json(run_dir / RESULT_FILE, {"status": "failed", "error": str(exc)})
        print(f"train_dist: rank {rank}: {exc}", file=sys.stderr)
        return 2
    finally:
        if started:
            torch.distributed.destroy_process_group()
    if rank == 0:
        _write_json(run_dir / RESULT_FILE, {
            "status": result.status, "step": result.step, "total_steps": result.total_steps,
            "final_loss": result.final_loss, "resumed_from": result.resumed_from,
            "model_path": str(result.model_path) if result.model_path else None,
            "config": asdict(config),
        })  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
