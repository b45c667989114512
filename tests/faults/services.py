"""Private PostgreSQL and Redis servers for fault tests, so restarting them disturbs nothing else
on the machine. PostgreSQL runs as the `postgres` system user (initdb refuses root)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.live import free_port

PG_BIN = (
    Path(sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1])
    if glob.glob("/usr/lib/postgresql/*/bin")
    else None
)


def _as_postgres(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, **kwargs)


class PrivatePostgres:
    def __init__(self):
        if PG_BIN is None:
            raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql")
        # Outside pytest's private (0700, root) temp tree: the postgres user must reach it.
        self.root = Path(tempfile.mkdtemp(prefix="annotator-faults-pg-"))
        self.root.chmod(0o755)
        self.data = self.root / "pgdata"
        self.port = free_port()
        self.log = self.root / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/annotator"

    def _ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        _as_postgres(
            [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
             "-t", "60", "-o", options, *args],
            capture_output=True,
        )  # fmt: skip

    def start(self) -> None:
        if not self.data.exists():
            shutil.chown(self.root, "postgres")
            _as_postgres(
                [str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"],
                capture_output=True,
            )
            self._ctl("start")
            _as_postgres(
                [str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U",
                 "postgres", "annotator"],
                capture_output=True,
            )  # fmt: skip
        else:
            self._ctl("start")

    def restart(self) -> None:
        self._ctl("restart", "-m", "fast")

    def stop(self) -> None:
        try:
            self._ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class PrivateRedis:
    def __init__(self, root: Path):
        self.root = root / "redis"
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.root), "--appendonly", "yes", "--save", ""],
            stdout=(self.root / "redis.log").open("ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        for _ in range(100):
            ping = subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True
            )
            if ping.stdout.strip() == "PONG":
                return
            time.sleep(0.1)
        raise RuntimeError("private Redis did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            subprocess.run(["redis-cli", "-p", str(self.port), "shutdown"], capture_output=True)
            self.proc.wait(timeout=30)


def chattr(path: Path, flag: str) -> None:
    """`+i` makes a folder immutable even for root (a read-only store); `-i` undoes it."""
    subprocess.run(["chattr", flag, str(path)], check=True)


def env_without_test_settings() -> dict:
    env = dict(os.environ)
    for name in ("DATABASE_URL", "REDIS_URL", "PYTEST_XDIST_WORKER"):
        env.pop(name, None)
    return env
