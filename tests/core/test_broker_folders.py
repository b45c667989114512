"""The embedded file-system broker keeps every folder under the var folder (issue #17 item 10:
its control folder, kombu's `./control`, appeared in whatever directory a command ran in)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_sending_a_task_writes_nothing_into_the_current_directory(tmp_path):
    cwd, var = tmp_path / "cwd", tmp_path / "var"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL")}
    env.update(ANNOTATOR_VAR_DIR=str(var), DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "shell", "-c",
         "from annotator.celery import app; "
         "app.send_task('annotator.metrics.tasks.record_outcome', args=[0])"],
        cwd=cwd, env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    assert sorted(p.name for p in cwd.iterdir()) == []
    assert (var / "broker" / "control" / "default.exchange").is_file()
    assert len(list((var / "broker" / "in").glob("*.msg"))) == 1
