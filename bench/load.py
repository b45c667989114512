"""Load test: simulated annotators against the real stack on loopback.

    python bench/load.py [--users 50] [--minutes 3] [--web 2]

Starts its own stack on the local PostgreSQL (a fresh `annotator_load` database) and Redis
(database 13): `--web` daphne processes (the client spreads users over them, as the reverse proxy
would) and one Celery worker with a small model. Each simulated annotator opens its next case,
fetches the case, its image (gzip NIfTI) and targets, then keeps editing: saves a mask every few
seconds (think time), naming the parent and an Idempotency-Key, retrying a save that fails on
the network or with 503 until it is acknowledged; now and then it asks for a pre-segmentation.

Afterwards it checks in the database that every acknowledged save is stored exactly once, prints
p50/p95/p99 per endpoint, and ends with one JSON line:
{"p95_save_ms": …, "lost_saves": 0, "duplicate_saves": 0, "errors_5xx": 0, ...}
(with a baseline in the same run: the same save requests made by one user alone, so the ratio
shows what the concurrent load costs).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import psycopg
import repo_path  # noqa: E402, F401
import requests

ROOT = Path(repo_path.ROOT)

from tests.live import Stack, fresh_database, run_python, stack_env  # noqa: E402

PG_ADMIN = os.environ.get("LOAD_PG_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")
DB_NAME = "annotator_load"
REDIS = os.environ.get("LOAD_REDIS", "redis://127.0.0.1:6379/13")
SHAPE_ZYX = (48, 256, 256)  # a CT-like case: 3 MB of uint8 mask per save before compression


SEED = """
import json, sys, tempfile
import django
django.setup()
import numpy as np, torch
from rest_framework.authtoken.models import Token
from annotator.registry import services as modelops
from annotator.registry.models import ModelOrigin
from inference.checkpoint import save_checkpoint
from inference.model import TINY_TEST, build_model
from tests import factories
users = int(sys.argv[1])
torch.manual_seed(0)
with tempfile.TemporaryDirectory() as tmp:
    save_checkpoint(build_model(TINY_TEST), tmp + "/m.pt")
    modelops.promote(modelops.register(tmp + "/m.pt", name="tiny", origin=ModelOrigin.BOOTSTRAP,
                                       config=TINY_TEST),
                     override="load bench: random weights, not evaluated")
annotators = [factories.user(f"annotator{i}") for i in range(users)]
project = factories.project("load", annotator=annotators)
rng = np.random.default_rng(0)
image = rng.integers(-200, 300, SHAPE, dtype=np.int16)
tokens = []
for a in annotators:
    case = factories.case(project, assignee=a, array=image)
    factories.target(case, key_index=SHAPE[0] // 2, box=[60, 60, 120, 120])
    tokens.append(Token.objects.create(user=a).key)
json.dump(tokens, sys.stdout)
"""


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.latency = defaultdict(list)
        self.status = defaultdict(lambda: defaultdict(int))
        self.acked: dict[str, int] = {}

    def add(self, endpoint: str, seconds: float, status) -> None:
        with self.lock:
            self.latency[endpoint].append(seconds)
            self.status[endpoint][status] += 1


def mask_bytes(rng: random.Random) -> bytes:
    nz, ny, nx = SHAPE_ZYX
    mask = np.zeros(SHAPE_ZYX, np.uint8)
    z, y, x = rng.randrange(nz), rng.randrange(ny - 40), rng.randrange(nx - 40)
    mask[max(0, z - 3) : z + 3, y : y + 40, x : x + 40] = 1
    return gzip.compress(mask.tobytes(), compresslevel=1)


def call(rec: Recorder, endpoint: str, fn, *args, **kwargs):
    started = time.perf_counter()
    try:
        response = fn(*args, timeout=60, **kwargs)
    except requests.RequestException:
        rec.add(endpoint, time.perf_counter() - started, "network")
        return None
    rec.add(endpoint, time.perf_counter() - started, response.status_code)
    return response


def annotator(urls: list[str], token: str, index: int, deadline: float, rec: Recorder,
              think: float, presegment_every: int) -> None:  # fmt: skip
    rng = random.Random(index)
    base = urls[index % len(urls)]
    s = requests.Session()
    s.headers["Authorization"] = f"Token {token}"
    case = None
    while case is None and time.monotonic() < deadline:
        r = call(rec, "POST cases/next", s.post, f"{base}/api/v1/cases/next/")
        case = r.json() if r is not None and r.status_code == 200 else None
    if case is None:
        return
    call(rec, "GET case", s.get, f"{base}/api/v1/cases/{case['id']}/")
    call(rec, "GET image", s.get, f"{base}/api/v1/cases/{case['id']}/image")
    r = call(rec, "GET targets", s.get, f"{base}/api/v1/cases/{case['id']}/targets/")
    target = r.json()[0]
    parent, n = target["head"], 0
    nx, ny, nz = case["image"]["shape"]
    while time.monotonic() < deadline:
        time.sleep(rng.uniform(0.5 * think, 1.5 * think))
        n += 1
        if presegment_every and n % presegment_every == 0:
            call(rec, "POST presegment", s.post,
                 f"{base}/api/v1/targets/{target['id']}/presegment", json={})  # fmt: skip
            continue
        key, data = f"u{index}-s{n}", mask_bytes(rng)
        for _attempt in range(50):
            r = call(rec, "POST revision", s.post,
                     f"{base}/api/v1/targets/{target['id']}/revisions/",
                     files={"mask": ("mask.raw.gz", data)},
                     data={"parent": parent or "", "shape": f"{nx},{ny},{nz}",
                           "active_seconds": "3.5"},
                     headers={"Idempotency-Key": key})  # fmt: skip
            if r is not None and r.status_code in (200, 201):
                parent = r.json()["id"]
                with rec.lock:
                    rec.acked[key] = parent
                break
            if r is not None and r.status_code == 409:  # a finished pre-segmentation moved on
                parent = r.json().get("current_revision")
                continue
            time.sleep(0.5)
        if n % 10 == 0:
            call(rec, "GET image", s.get, f"{base}/api/v1/cases/{case['id']}/image")


def _processes() -> dict[int, tuple[str, int, float]]:
    """pid → (name, parent pid, CPU seconds incl. reaped children), read once from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            head, tail = (entry / "stat").read_text().rsplit(")", 1)
        except OSError:
            continue
        fields = tail.split()
        cpu = sum(int(v) for v in fields[11:15]) / tick  # utime stime cutime cstime
        table[int(entry.name)] = (head.split("(", 1)[1], int(fields[1]), cpu)
    return table


def _tree_cpu(table: dict[int, tuple[str, int, float]], children, pid: int) -> float:
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += table.get(current, ("", 0, 0.0))[2]
        todo.extend(children.get(current, []))
    return total


def cpu_snapshot(stacks) -> dict[str, float]:
    """CPU seconds so far per role of the stack, to show where the load test's CPU went."""
    table = _processes()
    children: dict[int, list[int]] = defaultdict(list)
    for child, (_, parent, _) in table.items():
        children[parent].append(child)
    out = {f"web{i}": _tree_cpu(table, children, s.server.pid) for i, s in enumerate(stacks)}
    out["worker"] = sum(_tree_cpu(table, children, w.pid) for s in stacks for w in s.workers)
    postmaster = next((p for p, (name, ppid, _) in table.items()
                       if name == "postgres" and ppid == 1), None)  # fmt: skip
    if postmaster is not None:
        out["postgres"] = _tree_cpu(table, children, postmaster)
    t = os.times()
    out["client"] = t.user + t.system
    return out


def percentiles(values: list[float]) -> dict:
    if not values:
        return {}
    ms = np.asarray(values) * 1000
    return {f"p{q}": round(float(np.percentile(ms, q)), 1) for q in (50, 95, 99)} | {
        "n": len(values)
    }


def verify(database_url: str, acked: dict[str, int]) -> tuple[int, int]:
    with psycopg.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT idempotency_key, id FROM annotations_maskrevision "
            "WHERE idempotency_key LIKE 'u%-s%'"
        )
        stored: dict[str, list[int]] = defaultdict(list)
        for key, rid in cur.fetchall():
            stored[key].append(rid)
    lost = sum(1 for key, rid in acked.items() if stored.get(key) != [rid])
    duplicated = sum(1 for ids in stored.values() if len(ids) > 1)
    return lost, duplicated


def run(users: int, minutes: float, web: int, think: float, presegment_every: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
    database_url = fresh_database(PG_ADMIN, DB_NAME)
    import redis

    redis.Redis.from_url(REDIS).flushdb()
    env = stack_env(tmp, database_url, REDIS, AUTO_PRESEGMENT="0", ACCESS_LOG_LEVEL="WARNING")
    run_python(env, "manage.py", "migrate", "-v", "0")
    seed = SEED.replace("SHAPE", repr(SHAPE_ZYX))
    tokens = json.loads(run_python(env, "-c", seed, str(users + 1)))
    stacks = []
    for i in range(web):
        (tmp / f"web{i}").mkdir()
        stacks.append(Stack(root=tmp / f"web{i}", env=env))
    try:
        for stack in stacks:
            stack.start_server()
        stacks[0].start_worker("load")
        urls = [stack.url for stack in stacks]
        # Baseline: the last seeded annotator alone, same requests, no concurrent load.
        alone = Recorder()
        annotator(urls, tokens[-1], users, time.monotonic() + 30, alone, 0.2, 0)
        rec = Recorder()
        cpu_before, started = cpu_snapshot(stacks), time.monotonic()
        deadline = time.monotonic() + minutes * 60
        threads = [
            threading.Thread(
                target=annotator,
                args=(urls, tokens[i], i, deadline, rec, think, presegment_every),
            )
            for i in range(users)
        ]
        for t in threads:
            t.start()
            time.sleep(0.05)
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        cpu = {k: round((v - cpu_before.get(k, 0.0)) / elapsed, 2)
               for k, v in cpu_snapshot(stacks).items()}  # fmt: skip
        lost, duplicated = verify(database_url, {**rec.acked})
    finally:
        for stack in stacks:
            stack.stop()
    per_endpoint = {ep: percentiles(v) for ep, v in sorted(rec.latency.items())}
    errors_5xx = sum(
        n for codes in rec.status.values() for code, n in codes.items()
        if isinstance(code, int) and code >= 500
    )  # fmt: skip
    network = sum(codes.get("network", 0) for codes in rec.status.values())
    save = per_endpoint.get("POST revision", {})
    baseline = percentiles(alone.latency.get("POST revision", []))
    return {
        "p95_save_ms": save.get("p95"),
        "lost_saves": lost,
        "duplicate_saves": duplicated,
        "errors_5xx": errors_5xx,
        "network_errors": network,
        "acknowledged_saves": len(rec.acked),
        "users": users,
        "minutes": minutes,
        "web_processes": web,
        "baseline_p95_save_ms_single_user": baseline.get("p95"),
        "ratio_p95_save_vs_single_user": round(save["p95"] / baseline["p95"], 2)
        if save.get("p95") and baseline.get("p95")
        else None,
        "cpu_cores_used": cpu,
        "endpoints": per_endpoint,
        "status_codes": {ep: dict(codes) for ep, codes in rec.status.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Load test with simulated annotators.")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--web", type=int, default=2, help="daphne processes")
    parser.add_argument("--think", type=float, default=5.0, help="seconds between saves")
    parser.add_argument("--presegment-every", type=int, default=25)
    args = parser.parse_args()
    figures = run(args.users, args.minutes, args.web, args.think, args.presegment_every)
    for endpoint, stats in figures["endpoints"].items():
        print(f"{endpoint:18s} {stats}")
    print(f"status codes: {figures['status_codes']}")
    print(f"CPU cores used during the load (2 = both cores busy): {figures['cpu_cores_used']}")
    details = ("endpoints", "status_codes", "cpu_cores_used")
    print(json.dumps({k: v for k, v in figures.items() if k not in details}))
    if figures["lost_saves"] or figures["duplicate_saves"] or figures["errors_5xx"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
