"""Faults on the real stack: PostgreSQL restarted during saves, Redis restarted during a
pre-segmentation, the file store read-only during a save, a worker stopped mid-task.

Each ends with no lost acknowledged work and a clear error for what could not be done.
"""

from __future__ import annotations

import gzip
import os
import signal
import threading
import time
from collections import Counter

import numpy as np
import psycopg
import pytest
import requests

from tests.faults.services import chattr
from tests.live import wait_for

pytestmark = [pytest.mark.integration]


def api(stack) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Token {stack.seed['token']}"
    return s


def db_rows(stack, sql: str, *args):
    with psycopg.connect(stack.pg.url) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def raw_mask(shape_xyz, seed: int) -> bytes:
    nx, ny, nz = shape_xyz
    mask = np.zeros((nz, ny, nx), np.uint8)
    rng = np.random.default_rng(seed)
    z, y, x = rng.integers(0, nz), rng.integers(0, ny - 8), rng.integers(0, nx - 8)
    mask[z, y : y + 8, x : x + 8] = 1
    return gzip.compress(mask.tobytes(), compresslevel=1)


def save(session, base, target, parent, key, data, shape) -> requests.Response:
    return session.post(
        f"{base}/api/v1/targets/{target}/revisions/",
        files={"mask": ("mask.raw.gz", data)},
        data={"parent": "" if parent is None else parent, "shape": ",".join(map(str, shape))},
        headers={"Idempotency-Key": key},
        timeout=30,
    )


def test_postgres_restart_during_saves_loses_and_duplicates_nothing(fault_stack):
    stack, seed = fault_stack, fault_stack.seed
    codes: Counter = Counter()
    acked: dict[str, int] = {}
    stop = time.monotonic() + 25
    lock = threading.Lock()

    def annotator(target: int, n: int) -> None:
        session, parent, i = api(stack), None, 0
        while time.monotonic() < stop:
            key = f"pg-{target}-{i}"
            data = raw_mask(seed["shape"], seed=target * 1000 + i)
            for _ in range(120):
                try:
                    r = save(session, stack.url, target, parent, key, data, seed["shape"])
                except requests.ConnectionError:
                    with lock:
                        codes["connection"] += 1
                    time.sleep(0.25)
                    continue
                with lock:
                    codes[r.status_code] += 1
                if r.status_code in (200, 201):
                    parent = r.json()["id"]
                    with lock:
                        acked[key] = parent
                    break
                assert r.status_code == 503, (r.status_code, r.text)
                assert "unavailable" in r.json()["detail"]
                time.sleep(0.25)
            i += 1

    threads = [
        threading.Thread(target=annotator, args=(t, n)) for n, t in enumerate(seed["targets"])
    ]
    for t in threads:
        t.start()
    time.sleep(6)
    started = db_rows(stack, "SELECT pg_postmaster_start_time()")
    with lock:
        before = len(acked)
    stack.pg.restart()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert codes[500] == 0 and set(codes) <= {200, 201, 503, "connection"}, codes
    # The restart happened in the middle of the saves. Clients may see 503s, or nothing at all:
    # the web processes' connection pool can wait out a fast restart and reconnect.
    assert db_rows(stack, "SELECT pg_postmaster_start_time()") != started
    assert 0 < before < len(acked), (before, len(acked), codes)
    print("status codes seen:", dict(codes))
    assert len(acked) >= 8, codes
    stored = dict(
        db_rows(
            stack,
            "SELECT idempotency_key, id FROM annotations_maskrevision "
            "WHERE idempotency_key LIKE 'pg-%%'",
        )  # fmt: skip
    )
    assert {k: stored.get(k) for k in acked} == acked  # every acknowledged save is stored
    dupes = db_rows(
        stack,
        "SELECT target_id, checksum, count(*) FROM annotations_maskrevision "
        "GROUP BY target_id, parent_id, checksum HAVING count(*) > 1",
    )
    assert dupes == []


def _start_job(stack, target: int) -> int:
    r = api(stack).post(
        f"{stack.url}/api/v1/targets/{target}/presegment",
        json={"options": {"early_stop_patience": None}},
        timeout=30,
    )
    assert r.status_code == 202, r.text
    return r.json()["id"]


def _job(stack, job_id: int) -> dict:
    return api(stack).get(f"{stack.url}/api/v1/jobs/{job_id}/", timeout=30).json()


def test_redis_restart_during_presegmentation(fault_stack):
    stack = fault_stack
    stack.start_worker("w1")
    first, second = stack.seed["slow_targets"]
    job = _start_job(stack, first)
    wait_for(lambda: _job(stack, job)["status"] == "running" and _job(stack, job)["done"] > 0,
             180, "the job to run", stack)  # fmt: skip
    stack.redis.stop()
    refused = api(stack).post(
        f"{stack.url}/api/v1/targets/{second}/presegment", json={}, timeout=60
    )
    assert refused.status_code == 503, refused.text
    assert "unavailable" in refused.json()["detail"]
    time.sleep(3)
    stack.redis.start()
    wait_for(lambda: _job(stack, job)["status"] in ("done", "failed"), 300, "the job", stack)
    assert _job(stack, job)["status"] == "done", _job(stack, job)
    revisions = db_rows(
        stack, "SELECT count(*) FROM annotations_maskrevision WHERE target_id = %s", first
    )
    assert revisions == [(1,)]
    # The refused request left no job waiting forever.
    stuck = db_rows(
        stack, "SELECT count(*) FROM annotations_presegmentjob WHERE target_id = %s AND "
               "status IN ('queued', 'running')", second,
    )  # fmt: skip
    assert stuck == [(0,)]


def test_read_only_store_refuses_the_save_and_keeps_the_previous_revision(fault_stack):
    stack, seed = fault_stack, fault_stack.seed
    target = seed["targets"][0]
    session = api(stack)
    first = save(
        session, stack.url, target, None, "ro-1", raw_mask(seed["shape"], 1), seed["shape"]
    )
    assert first.status_code == 201
    ((name,),) = db_rows(
        stack, "SELECT file FROM annotations_maskrevision WHERE id = %s", first.json()["id"]
    )
    folder = (stack.media_root / name).parent
    before = sorted(p.name for p in folder.iterdir())
    chattr(folder, "+i")
    try:
        refused = save(session, stack.url, target, first.json()["id"], "ro-2",
                       raw_mask(seed["shape"], 2), seed["shape"])  # fmt: skip
    finally:
        chattr(folder, "-i")
    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "store_unavailable"
    assert sorted(p.name for p in folder.iterdir()) == before
    detail = session.get(f"{stack.url}/api/v1/targets/{target}/", timeout=30).json()
    assert detail["head"] == first.json()["id"]
    mask = session.get(f"{stack.url}/api/v1/targets/{target}/mask", timeout=30)
    assert mask.status_code == 200 and len(mask.content) > 0
    again = save(session, stack.url, target, first.json()["id"], "ro-2",
                 raw_mask(seed["shape"], 2), seed["shape"])  # fmt: skip
    assert again.status_code == 201


def test_worker_sigterm_finishes_the_running_task(fault_stack):
    stack = fault_stack
    worker = stack.start_worker("graceful")
    target = stack.seed["slow_targets"][0]
    job = _start_job(stack, target)
    wait_for(lambda: _job(stack, job)["status"] == "running" and _job(stack, job)["done"] > 0,
             180, "the job to run", stack)  # fmt: skip
    os.kill(worker.pid, signal.SIGTERM)  # warm shutdown of the main process only
    assert worker.wait(timeout=600) == 0
    assert _job(stack, job)["status"] == "done", _job(stack, job)
    assert db_rows(
        stack, "SELECT count(*) FROM annotations_maskrevision WHERE target_id = %s", target
    ) == [(1,)]
