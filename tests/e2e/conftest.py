"""Browser tests: Playwright drives Debian's Chromium (headless, SwiftShader WebGL) against the
live stack (daphne + Celery on the test PostgreSQL database, Redis), serving the collected
static files as in production. Assertions are on API data; screenshots go to artifacts/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.test import Client

from tests.browser import CHROMIUM, launch_chromium
from tests.live import ROOT, make_stack, require_services, serving

ARTIFACTS = ROOT / "artifacts"
MANIFEST = ROOT / "annotator" / "static" / "viewer" / ".vite" / "manifest.json"
os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")


@pytest.fixture(scope="session")
def collected_static(tmp_path_factory) -> Path:
    """The viewer build plus every app's static files, collected once (as `collectstatic`)."""
    if not MANIFEST.exists():
        pytest.fail("the viewer is not built: run `npm ci && npm run build` in frontend/")
    root = tmp_path_factory.mktemp("static")
    env = {**os.environ, "STATIC_ROOT": str(root), "ANNOTATOR_VAR_DIR": str(root / "var")}
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT, env=env, check=True, timeout=300,
    )  # fmt: skip
    return root


@pytest.fixture
def browser(monkeypatch):
    """Chromium for one test. Playwright's sync API keeps an event loop running in this thread,
    so Django's ORM needs DJANGO_ALLOW_ASYNC_UNSAFE while it lives (this process only: the live
    stack's servers do not get it)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        b = launch_chromium(p)
        page = b.new_page()
        has_webgl2 = page.evaluate("!!document.createElement('canvas').getContext('webgl2')")
        page.close()
        if not has_webgl2:
            b.close()
            pytest.fail("Chromium has no WebGL2 (SwiftShader): the viewer cannot run")
        yield b
        b.close()
        # The ORM calls made while Playwright's loop ran may have opened their own connection
        # (Django keys connections by context); close it so the test database can be dropped.
        from django.db import connections

        connections.close_all()


@pytest.fixture
def web(settings, tmp_path_factory, transactional_db, collected_static):
    """The live stack serving pages, API, websockets and collected static files."""
    require_services()
    stack = make_stack(tmp_path_factory.mktemp("web"))
    stack.env["STATIC_ROOT"] = str(collected_static)
    stack.env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    with serving(stack, settings):
        yield stack


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def wait_js(page, expression: str, timeout: float = 60_000, interval: float = 100) -> None:
    """Wait until a JavaScript expression is truthy. Polls with page.evaluate, which the pages'
    Content-Security-Policy allows (wait_for_function would need 'unsafe-eval')."""
    import time

    deadline = time.monotonic() + timeout / 1000
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true after {timeout / 1000:.0f} s: {expression}")
        page.wait_for_timeout(interval)


class Browsing:
    """A browser context for one user, with helpers for the viewer."""

    def __init__(self, browser, stack, user):
        self.stack = stack
        self.user = user
        self.context = browser.new_context(viewport={"width": 1400, "height": 860})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        # The pages run under a Content-Security-Policy: a violation is a failure too.
        self.page.on(
            "console",
            lambda m: "Content Security Policy" in m.text and self.errors.append(m.text),
        )
        self.page.set_default_timeout(60_000)

    def sign_in(self, password: str) -> None:
        """Sign in through the form. The tests hash passwords with MD5 for speed, which the
        server does not accept: store this one with the server's default hasher first."""
        from django.contrib.auth.hashers import PBKDF2PasswordHasher

        hasher = PBKDF2PasswordHasher()
        self.user.password = hasher.encode(password, hasher.salt())
        self.user.save(update_fields=["password"])
        page = self.page
        page.goto(self.stack.url + "/login/")
        page.fill("input[name=username]", self.user.username)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(self.stack.url + "/")

    def use_session(self) -> None:
        """Sign in without the form (a session cookie made on the server side)."""
        client = Client()
        client.force_login(self.user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        self.context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": self.stack.url}]
        )

    def open_case(self, case_id: int, query: str = "") -> None:
        self.page.goto(f"{self.stack.url}/cases/{case_id}/{query}")
        self.wait_ready()

    def wait_ready(self) -> None:
        wait_js(self.page, "window.viewer && (window.viewer.ready || window.viewer.error)", 120_000)
        error = self.page.evaluate("window.viewer.error")
        assert error is None, f"the viewer failed: {error}; page errors: {self.errors}"

    def state(self) -> dict:
        return self.page.evaluate("window.viewer.state()")

    def wait_state(self, js_predicate: str, timeout: float = 60_000) -> dict:
        """Wait until `js_predicate` (an expression over `s`, the viewer state) holds."""
        wait_js(
            self.page,
            f"(() => {{ const s = window.viewer.state(); return {js_predicate} }})()",
            timeout,
        )
        return self.state()

    def screen(self, native: list[float]) -> tuple[float, float]:
        xy = self.page.evaluate("(n) => window.viewer.screenOf(n)", native)
        assert xy is not None, f"voxel {native} is not on screen"
        return xy[0], xy[1]

    def drag(self, points: list[list[float]], button: str = "left") -> None:
        """Press at the first native voxel, move through the others, release."""
        mouse = self.page.mouse
        x, y = self.screen(points[0])
        mouse.move(x, y)
        mouse.down(button=button)
        for p in points[1:]:
            x, y = self.screen(p)
            mouse.move(x, y, steps=4)
        mouse.up(button=button)

    def key(self, combo: str) -> None:
        self.page.locator("#gl").focus()
        self.page.keyboard.press(combo)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def browse(browser, web):  # browser first: it outlives the database teardown
    opened: list[Browsing] = []

    def make(user) -> Browsing:
        b = Browsing(browser, web, user)
        opened.append(b)
        return b

    yield make
    for b in opened:
        b.close()


class ApiClient:
    """Token-authenticated API calls to the live server (assertions read data from here)."""

    def __init__(self, stack, user):
        from rest_framework.authtoken.models import Token

        token, _ = Token.objects.get_or_create(user=user)
        self.url = stack.url + "/api/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token.key}"

    def get(self, path: str):
        response = self.session.get(self.url + path, timeout=30)
        response.raise_for_status()
        return response

    def json(self, path: str):
        return self.get(path).json()

    def mask(self, target_id: int, revision_id: int | None = None):
        """A stored mask as a (z, y, x) uint8 array."""
        import gzip

        import nibabel as nib
        import numpy as np

        path = f"/targets/{target_id}/" + (
            f"revisions/{revision_id}/mask" if revision_id else "mask"
        )
        data = gzip.decompress(self.get(path).content)
        img = nib.Nifti1Image.from_bytes(data)
        return np.asarray(img.dataobj).transpose(2, 1, 0)


@pytest.fixture
def api_for(web):
    return lambda user: ApiClient(web, user)
