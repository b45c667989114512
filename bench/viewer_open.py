"""Opening a 512×512×200 CT case in the viewer, to first render, in headless Chromium.

Starts its own server (daphne on the embedded SQLite default, collected static files) with one
case, then opens the case page in fresh browser contexts (cold cache) and reads the viewer's
own marks, counted from the page's navigation start (so they include the HTML, the scripts,
the downloads and decoding), each taken when NiiVue's frame has finished on the GPU (the page
reads a pixel back): `firstRender`, the first image on screen, which for a volume this large is
its target's key slice, fetched on its own (`image?slice=k`) while the volume downloads; and
`volumeRender`, the whole volume on screen (scrolling and editing start then).
Baseline in the same browser: downloading the same image bytes with fetch() alone.

    python bench/viewer_open.py [--size 512] [--slices 200] [--repeat 3]

Ends with one JSON line of figures (printed, not asserted).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import repo_path  # noqa: E402, F401

ROOT = Path(repo_path.ROOT)

from tests.browser import launch_chromium  # noqa: E402

MANIFEST = ROOT / "annotator" / "static" / "viewer" / ".vite" / "manifest.json"


def require_viewer_build() -> None:
    """Stop at once when the viewer is not built: the page would only say how to build it, and
    a bench waiting for the viewer to become ready would wait its whole timeout."""
    if not MANIFEST.exists():
        sys.exit(
            f"the viewer is not built ({MANIFEST.relative_to(ROOT)} is missing): "
            "run `cd frontend && npm ci && npm run build` first"
        )


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def _setup(tmp: Path, size: int, slices: int) -> tuple[dict, str, int]:
    """Database, static files and the case; returns (server env, session cookie, case id)."""
    env = {
        **os.environ,
        "ANNOTATOR_VAR_DIR": str(tmp / "var"),
        "STATIC_ROOT": str(tmp / "static"),
        "DJANGO_SETTINGS_MODULE": "annotator.settings",
    }
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    os.environ.update({k: env[k] for k in ("ANNOTATOR_VAR_DIR", "STATIC_ROOT")})
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "annotator.settings"
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    from annotator.cases.imaging.synthetic import ct_phantom
    from tests import factories

    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)
    user = factories.user("bench")
    project = factories.project("bench-ct", annotator=[user])
    case = factories.case(project, assignee=user, array=ct_phantom(slices, size))
    c = size // 2
    factories.target(case, key_index=slices // 2 + 7, box=[c - 40, c - 30, c + 20, c + 30])
    client = Client()
    client.force_login(user)
    return env, client.cookies[settings.SESSION_COOKIE_NAME].value, case.pk


@contextlib.contextmanager
def serving_case(prefix: str, size: int, slices: int, port_base: int) -> Iterator[tuple]:
    """A server (its own SQLite and collected static files) with one CT case on loopback:
    (url, session cookie, case id) while the block runs."""
    with tempfile.TemporaryDirectory(prefix=prefix) as name:
        env, cookie, case_id = _setup(Path(name), size, slices)
        port = port_base + os.getpid() % 1000
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
             "annotator.asgi:application"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            _wait_http(url + "/healthz")
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's loop; no ORM below
            yield url, cookie, case_id
        finally:
            server.terminate()
            server.wait(timeout=30)


def open_case(page, url: str, case_id: int) -> dict:
    """Open the case in the viewer and wait until it is ready; its state()."""
    page.goto(f"{url}/cases/{case_id}/?autosave=0")
    deadline = time.monotonic() + 300
    while not page.evaluate("window.viewer && (window.viewer.ready || window.viewer.error)"):
        # polled: the page's CSP refuses wait_for_function's eval
        if time.monotonic() > deadline:
            raise TimeoutError("the viewer did not become ready in 300 s")
        page.wait_for_timeout(50)
    error = page.evaluate("window.viewer.error")
    if error:
        raise RuntimeError(error)
    return page.evaluate("window.viewer.state()")


def run(size: int = 512, slices: int = 200, repeat: int = 3, screenshot: str = "") -> dict:
    from playwright.sync_api import sync_playwright

    require_viewer_build()
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    with (
        serving_case("bench-viewer-", size, slices, 18000) as (url, cookie, case_id),
        sync_playwright() as p,
    ):
        browser = launch_chromium(p)
        runs, volume_runs, fetches, scrolls, breakdowns = [], [], [], [], []
        renderer = ""
        for _ in range(repeat):
            ctx = browser.new_context(viewport={"width": 1400, "height": 860})
            ctx.add_cookies([{"name": "sessionid", "value": cookie, "url": url}])
            page = ctx.new_page()
            state = open_case(page, url, case_id)
            runs.append(state["marks"]["firstRender"] / 1000)
            volume_runs.append(state["marks"]["volumeRender"] / 1000)
            m = state["marks"]
            breakdowns.append(
                {
                    "script_ms": round(m["scriptStart"]),
                    "niivue_ready_ms": round(m["glReady"]),
                    "key_slice_shown_ms": round(m.get("previewShown", 0)),
                    "image_downloaded_ms": round(m.get("image.fetched", 0)),
                    "image_in_ras_ms": round(m["imageLoaded"]),
                    "niivue_parsed_ms": round(m["parsed"]),
                    "first_render_ms": round(m["firstRender"]),
                    "volume_render_ms": round(m["volumeRender"]),
                }
            )
            if os.environ.get("BENCH_MARKS"):
                marks = sorted(state["marks"].items(), key=lambda kv: kv[1])
                print({k: round(v) for k, v in marks}, file=sys.stderr)
            renderer = page.evaluate("window.viewer.app.view.renderer")
            scrolls.append(
                page.evaluate(
                    "() => { const v = window.viewer.app.view; const t = performance.now();"
                    " v.scroll(0, 1); const gl = v.nv.gl;"
                    " gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE,"
                    " new Uint8Array(4));"
                    " return performance.now() - t }"
                )
            )
            slice_mode = state["sliceMode"]
            if screenshot:
                page.screenshot(path=screenshot)
            ctx.close()
            ctx = browser.new_context()
            ctx.add_cookies([{"name": "sessionid", "value": cookie, "url": url}])
            page = ctx.new_page()
            page.goto(url + "/healthz")
            fetches.append(
                page.evaluate(
                    f"async () => {{ const t = performance.now();"
                    f" const r = await fetch('/api/v1/cases/{case_id}/image');"
                    f" await r.arrayBuffer(); return performance.now() - t }}"
                )
                / 1000
            )
            ctx.close()
        browser.close()
    first = statistics.median(runs)
    fetch = statistics.median(fetches)
    key = f"open_ct_{size}x{size}x{slices}_first_render_s"
    return {
        key: round(first, 3),
        "runs_s": [round(r, 3) for r in runs],
        f"open_ct_{size}x{size}x{slices}_volume_render_s": round(statistics.median(volume_runs), 3),
        "baseline_image_fetch_s": round(fetch, 3),
        "ratio_to_fetch": round(first / fetch, 2) if fetch else None,
        "median_run_breakdown": breakdowns[runs.index(statistics.median_low(runs))],
        "slice_scroll_ms": round(statistics.median(scrolls), 1),
        "slice_mode": slice_mode,
        "renderer": renderer,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--screenshot", default="", help="save the viewer as PNG here")
    args = parser.parse_args()
    print(json.dumps(run(args.size, args.slices, args.repeat, args.screenshot)))


if __name__ == "__main__":
    main()
