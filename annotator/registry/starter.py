"""The starter model as a job: decide whether one must be trained, train it (inline for
`bootstrap_model`, or on the `training` queue for the demo) with its progress on a StarterRun
row, and register the result.

- Its length is a number of steps (inference.bootstrap.DEFAULT_STEPS), never a timing.
- Whether a registered starter is kept: `starter_problems` compares its held-out Dice per kind
  with the default quality floor (registry.quality.DEFAULT_FLOORS, the one definition). A starter
  below it is trained again (with the next seed when the same settings made the failed one).
- Resuming: the training checkpoint lives in a folder named by the run's settings under
  MODEL_STORE/bootstrap/, so any later run with the same settings resumes it. A run row records
  the process training it ("host:pid"); a run whose process is gone (same host) or silent for
  STALE_AFTER (another host) was interrupted and is taken over by the next worker or command.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone

from . import quality
from .models import ModelOrigin, ModelVersion, StarterRun, StarterStatus
from .registration import register_from_command
from .selectors import STARTER_ACTIVE as ACTIVE
from .selectors import describe_starter, production_model

log = logging.getLogger(__name__)
Log = Callable[[str], None]

NAME = "Starter (synthetic phantoms, demo only)"
STALE_AFTER = timedelta(minutes=10)  # a run on another host silent this long was interrupted
PROGRESS_EVERY = 5  # steps between progress writes (about 2 s on two idle cores)
BUSY = "busy"  # run(): another live process is training this run


def _kinds() -> tuple[str, ...]:
    from inference.phantoms import KINDS

    return tuple(KINDS)


def latest_starter() -> ModelVersion | None:
    return ModelVersion.objects.filter(origin=ModelOrigin.BOOTSTRAP).order_by("-created_at").first()


def starter_problems(version: ModelVersion) -> list[str]:
    """Why a starter is not good enough to keep: a kind it is trained on whose held-out Dice is
    missing or below the default floor for that kind."""
    figures = quality.heldout(version)
    problems = []
    for kind in _kinds():
        dice = (figures.get(kind) or {}).get("dice")
        name, floor = quality.KIND_NAMES[kind], quality.DEFAULT_FLOORS[kind]
        if dice is None:
            problems.append(f"no held-out {name} Dice")
        elif dice < floor:
            problems.append(f"held-out {name} Dice {dice:.3f} is below the floor {floor:.2f}")
    return problems


def active_run() -> StarterRun | None:
    return StarterRun.objects.filter(status__in=ACTIVE).first()


def _used_seed(config: str, steps: int, seed: int) -> bool:
    for version in ModelVersion.objects.filter(origin=ModelOrigin.BOOTSTRAP, config=config):
        training = quality.version_metrics(version).get("training") or {}
        if training.get("steps") == steps and training.get("seed", 0) == seed:
            return True
    return False


def create(run_settings: dict, *, reason: str) -> StarterRun:
    """A new queued run (settings: config, steps, seed, heldout, promote, override)."""
    return StarterRun.objects.create(
        settings=run_settings, reason=reason, total=run_settings["steps"]
    )


def ensure(run_settings: dict) -> tuple[StarterRun | None, str]:
    """The run to carry out for `bootstrap_model --if-missing`, and why: an unfinished one
    (resumed), a new one when no starter is registered or the latest is below the floor, or
    None when a good starter is registered."""
    run = active_run()
    if run is not None:
        return run, f"resuming the unfinished starter run {run.pk} (step {run.step}/{run.total})"
    current = latest_starter()
    if current is None:
        return create(run_settings, reason="no starter model is registered"), (
            "no starter model is registered: training one"
        )
    problems = starter_problems(current)
    if not problems:
        return None, f"a starter model is registered ({current.name}, {current.status}); kept"
    reason = f"the registered starter is below the quality floor: {'; '.join(problems)}"
    run_settings = dict(run_settings)
    while _used_seed(run_settings["config"], run_settings["steps"], run_settings["seed"]):
        run_settings["seed"] += 1  # the same settings would make the same model again
    return create(run_settings, reason=reason), reason + ": training a new one"


def enqueue(run: StarterRun) -> None:
    """Train it on a worker consuming the `training` queue."""
    from .tasks import train_starter

    train_starter.apply_async((run.pk,), queue="training")


# ---------------------------------------------------------------- running it


def _me() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(run: StarterRun) -> bool:
    """Whether another process is still training `run`."""
    if not run.worker or run.worker == _me():
        return False
    if timezone.now() - run.updated_at > STALE_AFTER:
        return False
    host, _, pid = run.worker.rpartition(":")
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        return True
    return True


def _claim(run_id: int) -> StarterRun | str | None:
    with transaction.atomic():
        run = StarterRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status not in ACTIVE:
            return None
        if _alive(run):
            return BUSY
        run.worker, run.status = _me(), StarterStatus.TRAINING
        run.started_at = run.started_at or timezone.now()
        run.message = "resuming" if run.step else "starting"
        run.save()
        return run


def run_dir(run: StarterRun) -> Path:
    """Named by the settings that decide the weights, so an equal later run resumes it."""
    name = "{config}-{steps}-{seed}".format(**run.settings)
    return Path(django_settings.MODEL_STORE) / "bootstrap" / name


def _progress(run_id: int) -> Callable[[int, int, float, float], None]:
    first = [True]

    def write(step: int, total: int, loss: float, eta: float) -> None:
        extra = {}
        if first[0]:  # the first step of this process: the run resumed after step - 1
            first[0] = False
            extra["resumed_from"] = step - 1
        elif step % PROGRESS_EVERY and step != total:
            return
        StarterRun.objects.filter(pk=run_id).update(
            **extra,
            step=step,
            total=total,
            loss=round(loss, 5),
            eta_s=round(eta, 1),
            status=StarterStatus.EVALUATING if step == total else StarterStatus.TRAINING,
            message="evaluating on held-out phantoms" if step == total else "training",
            updated_at=timezone.now(),
        )

    return write


def run(run_id: int, *, log_line: Log | None = None) -> StarterRun | str | None:
    """Train the run (or resume it), register the model and return the finished run; BUSY when
    another live process is training it, None when it needs nothing (finished, unknown)."""
    from inference.bootstrap import BootstrapSettings, bootstrap

    claimed = _claim(run_id)
    if not isinstance(claimed, StarterRun):
        return claimed
    run_ = claimed
    s = run_.settings
    boot = BootstrapSettings(
        config=s["config"], steps=s["steps"], seed=s["seed"], heldout_per_kind=s["heldout"]
    )
    folder = run_dir(run_)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "starter.pt"
    say = log_line or (lambda m: log.info("starter run %s: %s", run_id, m))
    try:
        scores = bootstrap(out, boot, say, run_dir=folder / "train", progress=_progress(run_id))
        version = _register(out, scores, s)
    except Exception as exc:
        StarterRun.objects.filter(pk=run_id).update(
            status=StarterStatus.FAILED,
            message=f"{type(exc).__name__}: {exc}"[:1000],
            finished_at=timezone.now(),
            updated_at=timezone.now(),
        )
        raise
    shutil.rmtree(folder, ignore_errors=True)
    dice = ", ".join(f"{quality.KIND_NAMES[k]} {scores.get(k)}" for k in _kinds())
    StarterRun.objects.filter(pk=run_id).update(
        status=StarterStatus.DONE,
        version=version,
        step=scores.get("steps", run_.total),
        eta_s=0,
        message=f"registered ({version.status}); held-out Dice {dice}",
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )
    return StarterRun.objects.get(pk=run_id)


def _register(out: Path, scores: dict, s: dict) -> ModelVersion:
    """Register the trained starter; it becomes production when none is, when asked to, or in
    place of a production starter below the floor - each only if it clears the floor itself
    (register_from_command), or with a written override."""
    current = production_model(None)
    replaces_bad = (
        current is not None
        and current.origin == ModelOrigin.BOOTSTRAP
        and bool(starter_problems(current))
    )
    return register_from_command(
        out,
        name=NAME,
        origin=ModelOrigin.BOOTSTRAP,
        config=s["config"],
        metrics=quality.metrics(
            {k: {"dice": scores[k], "n": s["heldout"]} for k in _kinds() if k in scores},
            source="phantoms",
            training={
                "steps": scores.get("steps"),
                "seed": s["seed"],
                "train_minutes": scores.get("train_minutes"),
            },
        ),
        reason="bootstrap_model",
        promote=bool(s.get("promote")) or replaces_bad,
        override=s.get("override", ""),
    )


def follow(run_id: int, write: Log, *, every: float = 30.0, sleep=time.sleep) -> StarterRun:
    """Write a progress line every `every` seconds until the run ends; returns it."""
    last = ""
    while True:
        run_ = StarterRun.objects.get(pk=run_id)
        line = describe_starter(run_)
        if line != last:
            write(line)
            last = line
        if run_.status not in ACTIVE:
            return run_
        sleep(every)
