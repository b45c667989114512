"""Hostile requests against a live web process: what they cost and whether anything gives way.

    python bench/abuse.py

Starts its own production-mode web process (deploy/run-web.sh: uvicorn, DEBUG off, strong keys,
no trusted proxies) on loopback, on a fresh PostgreSQL database (`annotator_abuse`) and Redis
database 12, seeds a project with users, a case and a target, then runs a catalogue:

- header bombs: NIfTI files of a few hundred bytes declaring 1024³ voxels, through the import
  (`.nii` and `.nii.gz`) and through a mask upload;
- oversized bodies (2 MiB) to every route of the API schema and to the pages;
- one 100 MiB upload to the import route (garbage, refused after it is stored to disk);
- forged forwarding headers: 30 wrong passwords on the token route and on /login/, each with a
  new X-Forwarded-For, then the right one;
- malformed query values and form fields (the 5xx list of issue #17);
- SIGTERM while slow downloads and uploads are in flight.

For every request it records the web process's peak resident memory growth (VmHWM after
resetting it through /proc/<pid>/clear_refs), and ends with one JSON line:
{"max_rss_growth_mb": … (largest growth for a request whose body is under 1 MiB; goal < 100),
 "rss_per_upload_mb": … (growth for the 100 MiB upload; goal < 50), "errors_5xx": … (goal 0),
 "throttle_bypassed": … (goal false), "sigterm_exit_s": … (goal < 30), …}
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import repo_path  # noqa: E402, F401
import requests

ROOT = Path(repo_path.ROOT)

from tests.hostile import header_bomb_nifti  # noqa: E402
from tests.live import free_port, fresh_database, run_python, stack_env, wait_for  # noqa: E402

PG_ADMIN = os.environ.get("ABUSE_PG_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")
DB_NAME = "annotator_abuse"
REDIS = os.environ.get("ABUSE_REDIS", "redis://127.0.0.1:6379/12")
SMALL_BODY = 1024 * 1024
MIB = 1024 * 1024

SEED = """
import json
import django
django.setup()
import numpy as np
from rest_framework.authtoken.models import Token
from tests import factories
admin = factories.user("abuse-admin", staff=True)
manager, annotator = factories.user("abuse-manager"), factories.user("abuse-annotator")
project = factories.project("abuse", manager=[manager], annotator=[annotator])
rng = np.random.default_rng(0)
case = factories.case(project, assignee=annotator,
                      array=rng.integers(-1000, 2000, (48, 384, 384), dtype=np.int16))
target = factories.target(case)
print(json.dumps({
    "tokens": {u.username: Token.objects.create(user=u).key for u in (admin, manager, annotator)},
    "password": factories.PASSWORD, "project": project.pk, "case": case.pk, "target": target.pk,
}))
"""


class Web:
    """The web process as production runs it, and its memory."""

    def __init__(self, env: dict, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**env, "WEB_BIND": "127.0.0.1", "WEB_PORT": str(self.port)}
        self.proc = subprocess.Popen(
            ["bash", "deploy/run-web.sh"], cwd=ROOT, env=env,
            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.log = log
        wait_for(self._up, 120, "the web process")

    def _up(self) -> bool:
        try:
            return requests.get(self.url + "/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def _status(self, field: str) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB -> MiB
        raise RuntimeError(f"{field} not found for pid {self.proc.pid}")

    def measure(self, call):
        """(result of call(), growth of the peak RSS in MiB while it ran)."""
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")  # reset VmHWM to VmRSS
        before = self._status("VmRSS")
        result = call()
        return result, max(0.0, self._status("VmHWM") - before)


class Catalogue:
    def __init__(self, web: Web, seed: dict):
        self.web, self.seed = web, seed
        self.rows: list[dict] = []
        self.seed_shape = (384, 384, 48)  # the case's image, x y z

    def auth(self, role: str) -> dict:
        return {"Authorization": f"Token {self.seed['tokens'][f'abuse-{role}']}"}

    def run(self, name: str, method: str, path: str, *, body_bytes: int = 0, **kwargs):
        def call():
            try:
                return requests.request(method, self.web.url + path, timeout=300, **kwargs)
            except requests.RequestException as exc:
                return exc

        response, growth = self.web.measure(call)
        status = getattr(response, "status_code", f"error: {type(response).__name__}")
        self.rows.append({"name": name, "status": status, "body_bytes": body_bytes,
                          "rss_growth_mb": round(growth, 1)})  # fmt: skip
        print(f"{status!s:>6}  {growth:7.1f} MiB  {name}", flush=True)
        return response


def header_bombs(c: Catalogue) -> None:
    project, target = c.seed["project"], c.seed["target"]
    for name, compressed in (("bomb.nii", False), ("bomb.nii.gz", True)):
        data = header_bomb_nifti(compressed=compressed)
        c.run(f"import header bomb {name} ({len(data)} B, declares 2 GiB)", "POST",
              f"/api/v1/projects/{project}/cases/", body_bytes=len(data),
              headers=c.auth("manager"), files={"files": (name, data)})  # fmt: skip
    shape = c.seed_shape
    bomb = header_bomb_nifti(shape=(1024, 1024, 1024), dtype="uint8", compressed=True)
    c.run(f"mask header bomb ({len(bomb)} B, declares 1 GiB)", "POST",
          f"/api/v1/targets/{target}/revisions/", body_bytes=len(bomb),
          headers=c.auth("annotator"), data={"parent": ""},
          files={"mask": ("mask.nii.gz", bomb)})  # fmt: skip
    wrong = header_bomb_nifti(shape=shape, dtype="uint8", compressed=True)
    c.run("mask with the image's shape but no voxels", "POST",
          f"/api/v1/targets/{target}/revisions/", body_bytes=len(wrong),
          headers=c.auth("annotator"), data={"parent": ""},
          files={"mask": ("mask.nii.gz", wrong)})  # fmt: skip


def routes(c: Catalogue) -> list[str]:
    """Every path of the API schema (ids filled in) and the main pages."""
    schema = requests.get(
        c.web.url + "/api/v1/schema/?format=json", headers=c.auth("admin"), timeout=60
    ).json()
    ids = {"project": c.seed["project"], "case": c.seed["case"], "target": c.seed["target"]}
    paths = []
    for path in schema["paths"]:
        filled = re.sub(r"\{(\w+)\}", lambda m: str(ids.get(m.group(1).split("_")[0], 1)), path)
        paths.append(filled)
    pages = ["/login/", "/", "/worklist/", "/review/", f"/projects/{c.seed['project']}/",
             f"/cases/{c.seed['case']}/", "/next/"]  # fmt: skip
    return sorted(set(paths)) + pages


def oversized(c: Catalogue) -> None:
    body = b"\0" * (2 * MIB)
    for path in routes(c):
        c.run(f"2 MiB body to {path}", "POST", path, body_bytes=len(body), data=body,
              headers={**c.auth("admin"), "Content-Type": "application/octet-stream"})  # fmt: skip
    c.run("2 MiB anonymous multipart to the token route", "POST", "/api/v1/auth/token/",
          body_bytes=len(body), files={"x": ("x.bin", body)})  # fmt: skip


def big_upload(c: Catalogue) -> float:
    size = 100 * MIB
    blob = os.urandom(size)
    c.run("100 MiB garbage upload to the import route", "POST",
          f"/api/v1/projects/{c.seed['project']}/cases/", body_bytes=size,
          headers=c.auth("manager"), files={"files": ("scan.nii.gz", blob)})  # fmt: skip
    return c.rows[-1]["rss_growth_mb"]


def forged_forwarding(c: Catalogue) -> bool:
    """True when 30 wrong passwords with a new X-Forwarded-For each never met a 429."""
    user, right = "abuse-annotator", c.seed["password"]
    limited = {"token": False, "login": False}
    for i in range(30):
        forged = {"X-Forwarded-For": f"203.0.113.{i + 1}", "X-Real-IP": f"198.51.100.{i + 1}"}
        r = c.run(f"wrong password #{i + 1}, forged X-Forwarded-For (token)", "POST",
                  "/api/v1/auth/token/", body_bytes=60, headers=forged,
                  data={"username": user, "password": f"wrong-{i}"})  # fmt: skip
        limited["token"] |= getattr(r, "status_code", 0) == 429
    # Production cookies are Secure, which requests does not send over http: send it by hand.
    csrf = requests.get(c.web.url + "/login/", timeout=30).cookies.get("csrftoken", "")
    for i in range(30):
        r = c.run(f"wrong password #{i + 1}, forged X-Forwarded-For (login page)", "POST",
                  "/login/", body_bytes=80, allow_redirects=False,
                  headers={"X-Forwarded-For": f"192.0.2.{i + 1}", "Cookie": f"csrftoken={csrf}",
                           "X-CSRFToken": csrf},
                  data={"username": user, "password": f"wrong-{i}",
                        "csrfmiddlewaretoken": csrf})  # fmt: skip
        limited["login"] |= getattr(r, "status_code", 0) == 429
    r = c.run("the right password after 30 wrong ones (token)", "POST", "/api/v1/auth/token/",
              body_bytes=60, headers={"X-Forwarded-For": "203.0.113.250"},
              data={"username": user, "password": right})  # fmt: skip
    limited["right_password_refused"] = getattr(r, "status_code", 0) == 429
    print(f"rate limited: {limited}", flush=True)
    return not all(limited.values())


def malformed(c: Catalogue) -> None:
    p = c.seed["project"]
    for path in (f"/api/v1/projects/{p}/metrics?annotator=²",
                 f"/api/v1/projects/{p}/metrics.csv?annotator=²",
                 "/api/v1/audit/?until=9999-12-31",
                 "/api/v1/audit/?since=0001-01-01T00:00:00-23:59",
                 f"/api/v1/cases/?project={p}&page=-1", "/api/v1/cases/%00/",
                 f"/api/v1/projects/{p}/cases/?status=%ff%fe"):  # fmt: skip
        c.run(f"GET {path}", "GET", path, headers=c.auth("admin"))
    c.run("round policy with a 400-character cron", "PUT", f"/api/v1/projects/{p}/round-policy",
          headers=c.auth("admin"), json={"cron": "*" * 400}, body_bytes=420)  # fmt: skip
    c.run("round policy with steps 0 and a negative tolerance", "PUT",
          f"/api/v1/projects/{p}/round-policy", headers=c.auth("admin"),
          json={"cron": "not a valid cron at-all", "steps": 0, "nsd_tolerance_mm": -5},
          body_bytes=80)  # fmt: skip


def sigterm_under_load(web: Web, c: Catalogue, grace_limit_s: float = 60.0) -> float:
    """Slow downloads and uploads in flight, then SIGTERM: seconds until the process is gone."""
    stop = threading.Event()
    image = f"{web.url}/api/v1/cases/{c.seed['case']}/image"

    def slow_reader():
        try:
            with requests.get(image, headers=c.auth("annotator"), stream=True, timeout=120) as r:
                for _ in r.iter_content(4096):
                    if stop.wait(0.05):
                        return
        except requests.RequestException:
            return

    def slow_uploader():
        def trickle():
            for _ in range(600):
                if stop.wait(0.1):
                    return
                yield b"\0" * 1024

        try:
            requests.post(f"{web.url}/api/v1/projects/{c.seed['project']}/cases/",
                          headers={**c.auth("manager"), "Content-Type": "application/zip"},
                          data=trickle(), timeout=120)  # fmt: skip
        except requests.RequestException:
            return

    threads = [threading.Thread(target=slow_reader) for _ in range(12)]
    threads += [threading.Thread(target=slow_uploader) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(3)
    started = time.monotonic()
    os.kill(web.proc.pid, signal.SIGTERM)
    try:
        web.proc.wait(timeout=grace_limit_s)
        elapsed = time.monotonic() - started
    except subprocess.TimeoutExpired:
        elapsed = float("inf")
        os.killpg(web.proc.pid, signal.SIGKILL)
        web.proc.wait()
    stop.set()
    for t in threads:
        t.join(timeout=30)
    print(f"SIGTERM with {len(threads)} slow clients: exited after {elapsed:.1f} s", flush=True)
    return elapsed


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="abuse-"))
    database_url = fresh_database(PG_ADMIN, DB_NAME)
    import redis

    redis.Redis.from_url(REDIS).flushdb()
    env = stack_env(
        tmp, database_url, REDIS,
        DEBUG="0", SECRET_KEY=secrets.token_urlsafe(64), PSEUDONYM_KEY=secrets.token_urlsafe(48),
        ALLOWED_HOSTS="127.0.0.1,localhost", SECURE_SSL_REDIRECT="0", AUTO_PRESEGMENT="0",
        ACCESS_LOG_LEVEL="WARNING",
    )  # fmt: skip
    env.pop("TRUSTED_PROXIES", None)
    run_python(env, "manage.py", "migrate", "-v", "0")
    seed = json.loads(run_python(env, "-c", SEED))
    web = Web(env, tmp / "web.log")
    c = Catalogue(web, seed)
    try:
        header_bombs(c)
        oversized(c)
        malformed(c)
        bypassed = forged_forwarding(c)
        upload_growth = big_upload(c)
        exit_s = sigterm_under_load(web, c)
    finally:
        if web.proc.poll() is None:
            os.killpg(web.proc.pid, signal.SIGKILL)
    small = [r for r in c.rows if r["body_bytes"] < SMALL_BODY]
    errors = [r for r in c.rows if isinstance(r["status"], int) and r["status"] >= 500]
    for r in errors:
        print(f"5xx: {r}", flush=True)
    broken = [r for r in c.rows if not isinstance(r["status"], int)]
    figures = {
        "max_rss_growth_mb": round(max(r["rss_growth_mb"] for r in small), 1),
        "oversized_max_rss_growth_mb": round(
            max(r["rss_growth_mb"] for r in c.rows if r["body_bytes"] >= SMALL_BODY), 1
        ),
        "rss_per_upload_mb": upload_growth,
        "errors_5xx": len(errors),
        "connection_errors": len(broken),
        "throttle_bypassed": bypassed,
        "sigterm_exit_s": round(exit_s, 1) if exit_s != float("inf") else None,
        "requests": len(c.rows),
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
