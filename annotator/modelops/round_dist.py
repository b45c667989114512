"""A round's training data-parallel under torchrun (settings ``TRAIN_PROCESSES_PER_NODE``,
``TRAIN_NNODES``, ``TRAIN_RDZV_ENDPOINT``; docs/deploy.md).

The worker writes the items and ``job.json`` into the round's run directory (on the shared model
store), starts ``torchrun ... -m inference.train_dist --run-dir RUN`` and follows it: the run's
``progress.json`` feeds the round's progress, a cancel request becomes ``RUN/STOP``, and
``result.json`` is the result. Resuming, cancelling and the output are those of
:func:`inference.train.train`.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from django.conf import settings

POLL_S = 1.0


def launch_command(run_dir: Path, processes: int, nnodes: int, endpoint: str, run_id: str):
    """The torchrun command line; on every other machine of a multi-node round the same line
    (with ``python -m torch.distributed.run`` or ``torchrun``) joins the run."""
    command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}"]
    if nnodes > 1:
        command += [f"--nnodes={nnodes}", "--rdzv_backend=c10d",
                    f"--rdzv_endpoint={endpoint}", f"--rdzv_id={run_id}"]  # fmt: skip
    else:
        command += ["--standalone"]
    return command + ["-m", "inference.train_dist", "--run-dir", str(run_dir)]


def distributed() -> bool:
    return settings.TRAIN_PROCESSES_PER_NODE > 1 or settings.TRAIN_NNODES > 1


def global_batch() -> int:
    """A round's batch: one clip per process, so 1 when training in the worker's process."""
    return max(1, settings.TRAIN_PROCESSES_PER_NODE) * max(1, settings.TRAIN_NNODES)


def train_with_torchrun(
    items: Sequence,
    config,
    run_dir: Path,
    *,
    init_checkpoint: str | Path | None,
    progress: Callable[[int, int, float, float], None],
    should_stop: Callable[[], bool],
    run_id: str,
    processes: int | None = None,
    nnodes: int | None = None,
    endpoint: str | None = None,
):
    """What :func:`inference.train.train` returns, trained by ``processes`` x ``nnodes`` ranks."""
    from inference.train import TrainingError, TrainResult
    from inference.train_data import save_items
    from inference.train_dist import (
        ITEMS_DIR,
        PROGRESS_FILE,
        RESULT_FILE,
        STOP_FILE,
        write_job,
    )

    processes = processes or settings.TRAIN_PROCESSES_PER_NODE
    nnodes = nnodes or settings.TRAIN_NNODES
    endpoint = endpoint if endpoint is not None else settings.TRAIN_RDZV_ENDPOINT
    if nnodes > 1 and not endpoint:
        raise TrainingError("TRAIN_NNODES > 1 needs TRAIN_RDZV_ENDPOINT (host:port)")
    run_dir = Path(run_dir)
    for name in (STOP_FILE, RESULT_FILE, PROGRESS_FILE):
        with contextlib.suppress(FileNotFoundError):
            (run_dir / name).unlink()
    save_items(items, run_dir / ITEMS_DIR)
    write_job(run_dir, config, init_checkpoint)
    command = launch_command(run_dir, processes, nnodes, endpoint, run_id)
    (run_dir / "command.txt").write_text(" ".join(command) + "\n")
    with open(run_dir / "torchrun.log", "ab") as log:
        process = subprocess.Popen(command, cwd=settings.BASE_DIR, stdout=log, stderr=log)
    seen = [None]

    def report() -> None:
        with contextlib.suppress(OSError, ValueError):
            now = json.loads((run_dir / PROGRESS_FILE).read_text())
            if now != seen[0]:
                seen[0] = now
                progress(now["step"], now["total"], now["loss"], now["eta_s"])

    try:
        while process.poll() is None:
            time.sleep(POLL_S)
            report()
            if should_stop():
                (run_dir / STOP_FILE).touch()
        report()  # the last step's
    finally:
        if process.poll() is None:  # the worker itself is going away
            process.terminate()
            process.wait(timeout=60)
    try:
        result = json.loads((run_dir / RESULT_FILE).read_text())
    except (OSError, ValueError):
        result = {"status": "failed", "error": f"torchrun exited {process.returncode} without a "
                  f"result; see {run_dir / 'torchrun.log'}"}  # fmt: skip
    if result["status"] == "failed":
        raise TrainingError(result["error"])
    model_path = result.get("model_path")
    return TrainResult(
        result["status"], int(result["step"]), int(result["total_steps"]), run_dir,
        Path(model_path) if model_path else None, result.get("final_loss"),
        int(result.get("resumed_from", 0)),
    )  # fmt: skip
