"""The starter model as a job (issue #14): kept when it clears the floor, trained again when it
does not, resumed when interrupted, queued on the training queue, its progress on a row the
models page reads, and the demo's unopened cases pre-segmented once it is registered."""

from __future__ import annotations

import itertools
import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from annotator.annotations.models import PresegmentJob
from annotator.cases.models import Case
from annotator.registry import starter, tasks
from annotator.registry.models import ModelStatus, ModelVersion, StarterRun, StarterStatus
from inference.bootstrap import DEFAULT_STEPS
from inference.model import TINY_TEST

pytestmark = pytest.mark.django_db

GOOD = {"ct": 0.96, "mr": 0.96, "echo": 0.99}
ISSUE_14 = {"ct": 0.0, "mr": 0.10, "echo": 0.75}
CHECKPOINTS = itertools.count()


class FakeBootstrap:
    """inference.bootstrap.bootstrap without the training: reports progress, writes a tiny
    checkpoint (distinct per call) and returns `scores`; remembers how it was called."""

    def __init__(self, scores, *, during=None):
        self.scores, self.during, self.calls = scores, during, []

    def __call__(self, out, settings_, log=print, *, run_dir=None, progress=None):
        import torch

        from inference.checkpoint import save_checkpoint
        from inference.model import build_model

        self.calls.append({"settings": settings_, "run_dir": run_dir})
        total = settings_.steps
        for step in range(1, min(10, total) + 1):
            progress(step, total, 1.0 / step, 2.0 * (total - step))
            if self.during and step == 7:
                self.during()
        torch.manual_seed(next(CHECKPOINTS))
        save_checkpoint(build_model(TINY_TEST), out)
        return {**self.scores, "steps": settings_.steps, "train_minutes": 0.1}


@pytest.fixture
def store(settings, tmp_path):
    settings.MODEL_STORE = tmp_path / "models"
    return settings.MODEL_STORE


def fake(monkeypatch, scores, **kw) -> FakeBootstrap:
    import inference.bootstrap

    runner = FakeBootstrap(scores, **kw)
    monkeypatch.setattr(inference.bootstrap, "bootstrap", runner)
    return runner


def command(**kw):
    call_command("bootstrap_model", config=TINY_TEST, heldout=2, **kw)


def test_the_default_length_is_the_step_count(store, monkeypatch):
    runner = fake(monkeypatch, GOOD)
    call_command("bootstrap_model", config=TINY_TEST)
    assert runner.calls[0]["settings"].steps == DEFAULT_STEPS
    assert StarterRun.objects.get().total == DEFAULT_STEPS


def test_if_missing_keeps_a_starter_that_clears_the_floor(store, monkeypatch, capsys):
    runner = fake(monkeypatch, GOOD)
    command(if_missing=True)
    version = ModelVersion.objects.get()
    assert version.status == ModelStatus.PRODUCTION
    assert version.metrics["training"] == {"steps": DEFAULT_STEPS, "seed": 0, "train_minutes": 0.1}
    command(if_missing=True)
    assert "kept" in capsys.readouterr().out
    assert len(runner.calls) == 1 and ModelVersion.objects.count() == 1
    assert not (store / "bootstrap" / f"{TINY_TEST}-{DEFAULT_STEPS}-0").exists()  # cleaned up


def test_a_production_starter_below_the_floor_is_trained_again_and_replaced(
    store, monkeypatch, capsys, django_capture_on_commit_callbacks
):
    """Issue #14: a 138-step starter (Dice 0.0 / 0.10 / 0.75) was made production; rerunning
    the demo kept it. Now --if-missing trains a new one, which replaces it."""
    fake(monkeypatch, ISSUE_14)
    command(steps=138, promote=True, override="made before the floor existed")
    bad = ModelVersion.objects.get()
    assert bad.status == ModelStatus.PRODUCTION
    capsys.readouterr()
    runner = fake(monkeypatch, GOOD)
    with django_capture_on_commit_callbacks(execute=True):
        command(if_missing=True)
    out = capsys.readouterr().out
    assert "below the quality floor" in out and "held-out CT Dice 0.000" in out
    assert runner.calls[0]["settings"].seed == 0  # other settings (steps): its own seed
    good = ModelVersion.objects.exclude(pk=bad.pk).get()
    bad.refresh_from_db()
    assert (good.status, bad.status) == (ModelStatus.PRODUCTION, ModelStatus.RETIRED)


def test_the_same_settings_below_the_floor_train_with_the_next_seed(store, monkeypatch):
    fake(monkeypatch, ISSUE_14)
    command(steps=9)
    assert ModelVersion.objects.get().status == ModelStatus.CANDIDATE  # below the floor
    runner = fake(monkeypatch, GOOD)
    command(steps=9, if_missing=True)
    assert runner.calls[0]["settings"].seed == 1  # seed 0 would make the same model again
    assert ModelVersion.objects.filter(status=ModelStatus.PRODUCTION).count() == 1


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def unfinished(worker: str, *, age=timedelta(0), steps=9) -> StarterRun:
    run = StarterRun.objects.create(
        status=StarterStatus.TRAINING,
        settings={"config": TINY_TEST, "steps": steps, "seed": 0, "heldout": 2},
        total=steps,
        step=40,
        worker=worker,
        reason="no starter model is registered",
    )
    StarterRun.objects.filter(pk=run.pk).update(updated_at=timezone.now() - age)
    run.refresh_from_db()
    return run


def test_an_interrupted_run_is_resumed_in_its_own_folder(store, monkeypatch, capsys):
    """A run whose process died (Ctrl-C, a killed worker): the next --if-missing takes it over
    and trains in the folder that holds its checkpoint (inference resumes from it: see
    tests/inference/test_bootstrap.py)."""
    run = unfinished(f"{socket.gethostname()}:{dead_pid()}")
    runner = fake(monkeypatch, GOOD)
    command(if_missing=True)
    assert "resuming the unfinished starter run" in capsys.readouterr().out
    assert runner.calls[0]["run_dir"] == starter.run_dir(run) / "train"
    run.refresh_from_db()
    assert run.status == StarterStatus.DONE and run.version.status == ModelStatus.PRODUCTION
    assert StarterRun.objects.count() == 1


def test_a_run_another_live_process_trains_is_left_to_it(store, monkeypatch):
    import os

    runner = fake(monkeypatch, GOOD)
    run = unfinished(f"{socket.gethostname()}:{os.getppid()}")
    assert starter.run(run.pk) == starter.BUSY
    with pytest.raises(CommandError, match="unfinished"):
        command()
    other_host = unfinished("elsewhere:1")
    assert starter.run(other_host.pk) == starter.BUSY  # recent heartbeat: alive
    StarterRun.objects.filter(pk=other_host.pk).update(
        updated_at=timezone.now() - starter.STALE_AFTER - timedelta(seconds=1)
    )
    assert starter.run(other_host.pk).status == StarterStatus.DONE  # silent: taken over
    assert len(runner.calls) == 1


def test_queue_sends_it_to_the_training_queue(store, monkeypatch, capsys):
    sent = []
    monkeypatch.setattr(
        tasks.train_starter, "apply_async", lambda args, **kw: sent.append((args, kw))
    )
    runner = fake(monkeypatch, GOOD)
    command(if_missing=True, queue=True)
    run = StarterRun.objects.get()
    assert sent == [((run.pk,), {"queue": "training"})]
    assert runner.calls == [] and run.status == StarterStatus.QUEUED
    assert "queued on the training queue" in capsys.readouterr().out
    tasks.train_starter.apply((run.pk,))  # what the worker runs
    run.refresh_from_db()
    assert run.status == StarterStatus.DONE and run.version is not None


def test_follow_prints_progress_until_the_run_ends(store):
    run = unfinished("elsewhere:1")
    StarterRun.objects.filter(pk=run.pk).update(step=5, eta_s=120.0, loss=0.5)
    lines = []

    def sleep(_):
        StarterRun.objects.filter(pk=run.pk).update(
            status=StarterStatus.DONE, message="registered (production); held-out Dice ..."
        )

    done = starter.follow(run.pk, lines.append, sleep=sleep)
    assert done.status == StarterStatus.DONE
    assert lines == [
        "starter model: step 5/9, loss 0.500, about 2.0 min left",
        "starter model: registered (production); held-out Dice ...",
    ]


def test_progress_is_on_the_models_page_while_it_trains(store, monkeypatch, project, people):
    client = Client()
    client.force_login(people["annotator"])
    seen = {}

    def look():
        run = StarterRun.objects.get()
        seen["row"] = (run.status, run.step, run.total, run.eta_s)
        seen["json"] = client.get("/models/starter/progress").json()
        seen["page"] = client.get(f"/projects/{project.pk}/models/").content.decode()

    fake(monkeypatch, GOOD, during=look)
    command(steps=10)
    assert seen["row"] == (StarterStatus.TRAINING, 5, 10, 10.0)  # written every 5 steps
    assert seen["json"]["active"] and seen["json"]["step"] == 5 and seen["json"]["total"] == 10
    assert "about 0.2 min left" in seen["json"]["line"]
    assert 'id="starter"' in seen["page"] and '<progress max="10" value="5"' in seen["page"]
    assert "modelops/starter.js" in seen["page"]
    finished = client.get("/models/starter/progress").json()
    assert finished["status"] == "done" and not finished["active"]
    assert Client().get("/models/starter/progress").status_code == 302  # signed-in users only


@pytest.mark.django_db(transaction=True)
def test_the_demo_cases_are_presegmented_once_the_starter_is_registered(store, monkeypatch, capsys):
    """load_demo before any model (the demo serves at once): its cases wait, ready and
    unopened; registering the starter queues their pre-segmentation with it."""
    from annotator.modelops import presegment

    queued = []
    monkeypatch.setattr(presegment, "_enqueue_case", lambda case_id, jobs: queued.append(case_id))
    call_command("load_demo", ct_cases=1, echo_cases=1, password="pw-demo")
    assert not PresegmentJob.objects.exists()
    fake(monkeypatch, GOOD)
    command(if_missing=True)
    version = ModelVersion.objects.get(status=ModelStatus.PRODUCTION)
    assert sorted(queued) == sorted(Case.objects.values_list("pk", flat=True))
    assert {j.model_version_id for j in PresegmentJob.objects.all()} == {version.pk}
