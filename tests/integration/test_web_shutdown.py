"""The web process, as deploy/run-web.sh starts it, stops within its grace period on SIGTERM
while requests are in flight (issue #17: daphne stayed alive for minutes, its request threads
stuck in AsyncToSync behind sync-only middleware once the event loop had stopped).

The requests are made slow for real: the test holds an exclusive lock on the session table, so
every request that carries a session cookie waits on PostgreSQL inside its view. SIGTERM is sent
while they wait; the lock is released a moment later (the requests finish); the process must be
gone within the grace period.
"""

from __future__ import annotations

import secrets
import signal
import threading
import time
import urllib.request

import pytest
from django.conf import settings
from django.db import connection, transaction

from tests.live import free_port, make_stack, require_services, wait_for

pytestmark = [pytest.mark.integration]

# docker stops a container with SIGTERM, then SIGKILL after its grace period (compose's
# stop_grace_period for `web`; docs/deploy.md).
GRACE_SECONDS = 10
IN_FLIGHT = 6
LOCK_HELD_AFTER_SIGTERM = 2.0


def _slow_request(url: str, cookie: str, outcomes: list) -> None:
    request = urllib.request.Request(url, headers={"Cookie": cookie})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            outcomes.append(response.status)
    except Exception as exc:  # the server may drop them while stopping: not what is tested
        outcomes.append(type(exc).__name__)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_loaded_web_process_exits_within_grace_period_on_sigterm(transactional_db, tmp_path):
    require_services()
    stack = make_stack(tmp_path)
    port = free_port()
    stack.env.update(WEB_BIND="127.0.0.1", WEB_PORT=str(port))
    server = stack._spawn("web", ["bash", "deploy/run-web.sh"])
    stack.server = server
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _healthy(base + "/healthz"), 120, "deploy/run-web.sh", stack)
        cookie = f"{settings.SESSION_COOKIE_NAME}={secrets.token_hex(16)}"
        outcomes: list = []
        clients = [
            threading.Thread(
                target=_slow_request, args=(base + "/api/v1/projects/", cookie, outcomes)
            )
            for _ in range(IN_FLIGHT)
        ]
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("LOCK TABLE django_session IN ACCESS EXCLUSIVE MODE")
            for client in clients:
                client.start()
            wait_for(lambda: _waiting_on_lock() > 0, 30, "a request waiting on the lock", stack)
            server.send_signal(signal.SIGTERM)  # to the server itself, as docker does
            stopped_at = time.monotonic()
            time.sleep(LOCK_HELD_AFTER_SIGTERM)
        # The lock is released: the requests in flight finish, and the process must end.
        try:
            server.wait(timeout=GRACE_SECONDS - (time.monotonic() - stopped_at))
        except Exception:
            pytest.fail(
                f"the web process was still running {GRACE_SECONDS}s after SIGTERM with "
                f"{IN_FLIGHT} requests in flight\n{stack.log_text()[-3000:]}"
            )
        for client in clients:
            client.join(timeout=10)
    finally:
        if server.poll() is None:
            stack.kill(server)  # SIGKILL to its process group
        stack.stop()


def _waiting_on_lock() -> int:
    """Sessions of other connections waiting for a lock (the requests in flight)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # inside a transaction it is cached
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]
