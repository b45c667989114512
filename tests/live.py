"""A live stack for integration and browser tests: uvicorn (HTTP + websockets) and a real Celery
worker as subprocesses, on the pytest-django test database (PostgreSQL) and a Redis database.

Tests using it must commit their data (django_db(transaction=True)) so the subprocesses see it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_url_for_worker() -> str:
    base = os.environ.get("REDIS_URL_TEST", "redis://127.0.0.1:6379/15")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = 15 - int("".join(c for c in worker if c.isdigit()) or 0)
    return base.rsplit("/", 1)[0] + f"/{index}"


def require_services() -> None:
    if connection.vendor != "postgresql":
        pytest.fail("live-stack tests need PostgreSQL: run them with DATABASE_URL=postgres://...")
    import redis

    try:
        redis.Redis.from_url(redis_url_for_worker(), socket_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"live-stack tests need Redis at {redis_url_for_worker()}: {exc}")


@dataclass
class Stack:
    root: Path
    env: dict
    url: str = ""
    server: subprocess.Popen | None = None
    workers: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    @property
    def media_root(self) -> Path:
        return Path(self.env["MEDIA_ROOT"])

    @property
    def model_store(self) -> Path:
        return Path(self.env["MODEL_STORE"])

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = self.root / f"{name}-{len(self.logs)}.log"
        self.logs.append(log)
        return subprocess.Popen(
            args,
            cwd=ROOT,
            env=self.env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill() reaches the pool children
        )

    def start_server(self, port: int | None = None) -> None:
        port = port or free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.server = self._spawn(
            "uvicorn",
            [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port),
             "--lifespan", "off", "--no-proxy-headers", "annotator.asgi:application"],
        )  # fmt: skip
        wait_for(lambda: _http_ok(self.url + "/healthz"), 60, "uvicorn", self)

    def start_worker(
        self, name: str = "w1", queues: str = "default,gpu,training"
    ) -> subprocess.Popen:
        worker = self._spawn(
            f"celery-{name}",
            [sys.executable, "-m", "celery", "-A", "annotator", "worker", "-Q", queues,
             "-c", "1", "-n", f"{name}@%h", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "-l", "INFO"],
        )  # fmt: skip
        self.workers.append(worker)
        wait_for(lambda: "ready." in self.log_text(), 90, f"worker {name}", self)
        return worker

    def stop_server(self) -> None:
        """Stop the web server (clients then get connection errors); restart_server() brings
        it back."""
        if self.server is not None and self.server.poll() is None:
            self.kill(self.server, signal.SIGTERM)

    def restart_server(self) -> None:
        """Start the web server again on the same address, e.g. after stop_server()."""
        self.stop_server()
        self.start_server(port=int(self.url.rsplit(":", 1)[1]))

    def kill(self, proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.logs if p.exists())

    def stop(self) -> None:
        for proc in [*self.workers, self.server]:
            if proc is not None and proc.poll() is None:
                self.kill(proc, signal.SIGTERM)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def wait_for(predicate, timeout: float, what: str, stack: Stack | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    logs = stack.log_text()[-4000:] if stack else ""
    raise AssertionError(f"{what} not ready after {timeout}s\n{logs}")


def stack_env(
    root: Path, database_url: str, redis_url: str, base: dict | None = None, **extra: str
) -> dict:
    """The environment of a stack's processes: its database and Redis, its own media, model
    store and var folders under `root` (made here), on top of `base` (default: os.environ).
    `extra` adds or overrides variables, e.g. AUTO_PRESEGMENT="0"."""
    for sub in ("media", "models", "var", "uploads"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return {
        **(os.environ if base is None else base),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "MEDIA_ROOT": str(root / "media"),
        "MODEL_STORE": str(root / "models"),
        "ANNOTATOR_VAR_DIR": str(root / "var"),
        "DJANGO_SETTINGS_MODULE": "annotator.settings",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def fresh_database(admin_url: str, name: str) -> str:
    """Drop and create the PostgreSQL database `name` (a bench's own); its URL."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        cur.execute(f"CREATE DATABASE {name}")
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def run_python(env: dict, *args: str) -> str:
    """A Python module or script run as the stack runs its processes (from the repository, in
    `env`), e.g. `manage.py migrate`; its standard output."""
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout


@contextlib.contextmanager
def serving(stack: Stack, settings) -> Iterator[Stack]:
    """The stack's server running for one test whose file and model stores (pytest-django's
    `settings`) are the stack's; everything the stack started is stopped afterwards."""
    settings.MEDIA_ROOT = stack.media_root
    settings.MODEL_STORE = stack.model_store
    try:
        stack.start_server()
        yield stack
    finally:
        stack.stop()


def make_stack(tmp_root: Path) -> Stack:
    db = settings.DATABASES["default"]
    database_url = (
        f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )
    redis_url = redis_url_for_worker()
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    env = stack_env(
        tmp_root,
        database_url,
        redis_url,
        SECRET_KEY=settings.SECRET_KEY,
        CELERY_VISIBILITY_TIMEOUT="15",
    )
    return Stack(root=tmp_root, env=env)
