"""The starter's training length is a number of steps, never a timing (issue #14); its ETA
follows the last steps; an interrupted starter resumes from its last checkpoint."""

from __future__ import annotations

import pytest

import inference.bootstrap as bootstrap_module
import inference.train as train_module
from inference.bootstrap import DEFAULT_STEPS, BootstrapSettings, bootstrap, main
from inference.model import TINY_TEST
from inference.train import ETA_WINDOW, TrainConfig, train
from tests.inference.test_train import items


class SlowClock:
    """time.monotonic for a machine busy with other work: every reading is 100 s later."""

    def __init__(self, step: float = 100.0):
        self.now, self.step = 0.0, step

    def monotonic(self) -> float:
        self.now += self.step
        return self.now


def tiny(**kw) -> BootstrapSettings:
    return BootstrapSettings(config=TINY_TEST, per_kind=1, heldout_per_kind=1, clip_len=3, **kw)


def test_the_default_is_a_step_count():
    assert BootstrapSettings().steps == DEFAULT_STEPS
    assert not hasattr(bootstrap_module, "_seconds_per_step")
    assert "minutes" not in BootstrapSettings.__dataclass_fields__


def test_the_step_count_is_the_same_on_a_busy_machine(tmp_path, monkeypatch):
    seen = []

    def spy(items_, config: TrainConfig, run_dir, **kw):
        seen.append(config.steps)
        return train(items_, config, run_dir, **kw)

    monkeypatch.setattr(bootstrap_module, "train", spy)
    idle = bootstrap(tmp_path / "idle.pt", tiny(steps=3), log=lambda m: None)
    monkeypatch.setattr(bootstrap_module, "time", SlowClock())
    monkeypatch.setattr(train_module, "time", SlowClock())
    busy = bootstrap(tmp_path / "busy.pt", tiny(steps=3), log=lambda m: None)
    assert seen == [3, 3]
    assert idle["steps"] == busy["steps"] == 3


def test_the_command_line_default_is_default_steps(tmp_path, monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(bootstrap_module, "time", SlowClock())
    monkeypatch.setattr(
        bootstrap_module, "bootstrap", lambda out, s, log: seen.append(s.steps) or {"steps": 1}
    )
    assert main(["--out", str(tmp_path / "s.pt")]) == 0
    assert seen == [DEFAULT_STEPS]
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "s.pt"), "--minutes", "12"])  # no time budget any more


def test_the_eta_follows_the_last_steps(tmp_path, monkeypatch):
    """Five slow steps (10 s, the machine busy), then fast ones (1 s): once the slow steps have
    left the window, the ETA is 1 s per step left, not the run's average."""

    class Clock:  # train reads the clock at the start and the end of every step
        def __init__(self):
            self.now, self.reads = 0.0, 0

        def monotonic(self):
            self.reads += 1
            if self.reads % 2 == 0:
                self.now += 10.0 if self.reads // 2 <= 5 else 1.0
            return self.now

    monkeypatch.setattr(train_module, "time", Clock())
    etas = {}
    steps = ETA_WINDOW + 8
    config = TrainConfig(model_config=TINY_TEST, steps=steps, clip_len=3, seed=1)
    train(items(2), config, tmp_path / "run", progress=lambda s, t, _, eta: etas.update({s: eta}))
    assert etas[3] == pytest.approx(10.0 * (steps - 3))
    assert etas[steps - 1] == pytest.approx(1.0)  # the cumulative mean would say 2.6 s
    assert etas[steps] == 0


def test_an_interrupted_starter_resumes_from_its_last_checkpoint(tmp_path):
    """Killed after step 5 with a checkpoint every 2 steps: the rerun starts at step 4 and
    ends with the model of an uninterrupted run."""

    class Killed(Exception):
        pass

    def kill_at(step, total, loss, eta):
        if step == 5:
            raise Killed

    settings = tiny(steps=6, checkpoint_every=2)
    run_dir = tmp_path / "run"
    with pytest.raises(Killed):
        bootstrap(tmp_path / "a.pt", settings, log=lambda m: None, run_dir=run_dir,
                  progress=kill_at)  # fmt: skip
    assert (run_dir / train_module.RESUME_FILE).exists()
    first_steps = []
    lines = []
    resumed = bootstrap(tmp_path / "a.pt", settings, log=lines.append, run_dir=run_dir,
                        progress=lambda s, *a: first_steps.append(s))  # fmt: skip
    assert first_steps[0] == 5 and resumed["steps"] == 6
    assert any("resumed at step 4" in line for line in lines)
    assert not run_dir.exists()  # finished: nothing left to resume
    whole = bootstrap(tmp_path / "b.pt", settings, log=lambda m: None, run_dir=tmp_path / "b")
    assert {k: resumed[k] for k in ("ct", "mr", "echo")} == {
        k: whole[k] for k in ("ct", "mr", "echo")
    }
