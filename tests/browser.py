"""Headless Chromium for the browser tests and the viewer bench: Debian's build (Playwright's
own download is skipped), WebGL2 through SwiftShader since the machines have no GPU display."""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
]


def launch_chromium(playwright):
    """A Chromium browser from a started Playwright (sync API)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
