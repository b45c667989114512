"""Interaction latency in the viewer on a 512×512×200 CT case, in headless Chromium.

Starts its own server (as bench/viewer_open.py: embedded SQLite, collected static files) with
one case, opens it, then times in the page, from the input event to the frame finished on the
GPU (the page reads a pixel back):
- a brush stroke: each mouse move of a stroke to its painted voxels on screen (the viewer
  paints a stroke's moves once per animation frame, so this includes the wait for that frame);
- a wheel zoom (Ctrl+wheel at the cursor) to its frame;
- interpolating 20 slices of a target between two painted slices, if the viewer has
  interpolation (`app.interpolate`, frontend/src/interpolate.js); else null, with a note.

    python bench/viewer_interact.py [--size 512] [--slices 200] [--moves 60] [--zooms 40]

Goals: stroke and zoom p95 under 50 ms on software WebGL (SwiftShader), interpolation under
300 ms. Ends with one JSON line of figures (printed, not asserted). Not run in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics

import repo_path  # noqa: E402, F401

from bench.viewer_open import open_case, require_viewer_build, serving_case  # noqa: E402
from tests.browser import launch_chromium  # noqa: E402

# In the page: strokes, zooms and interpolation, timed with performance.now().
STROKE_JS = """async ([k, cx, cy, moves, radius]) => {
  const app = window.viewer.app, gl = app.view.nv.gl, canvas = app.ui.canvas
  const done = () => gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4))
  const frame = () => new Promise((r) => requestAnimationFrame(r))
  const at = (x, y) => {
    const p = app.screenOf([x, y, k])
    return { clientX: p[0], clientY: p[1], button: 0, bubbles: true, cancelable: true }
  }
  app.setTool('brush')
  app.setBrush(12)
  const v = app.grid.toRasCoord([cx, cy, k]); app.view.setVox(v)
  await frame()
  const t = app.current, before = t.count, times = []
  canvas.dispatchEvent(new MouseEvent('mousedown', at(cx - radius, cy)))
  for (let i = 0; i <= moves; i++) {
    const a = (2 * Math.PI * i) / moves
    const t0 = performance.now()
    const [x, y] = [cx - radius * Math.cos(a), cy - radius * Math.sin(a)]
    canvas.dispatchEvent(new MouseEvent('mousemove', at(x, y)))
    await frame() // the stroke's paint runs in this frame's callbacks, before ours
    done()
    times.push(performance.now() - t0)
  }
  canvas.dispatchEvent(new MouseEvent('mouseup', at(cx - radius, cy)))
  window.dispatchEvent(new MouseEvent('mouseup', at(cx - radius, cy)))
  return { times, painted: t.count - before, target: t.id }
}"""

ZOOM_JS = """async ([k, cx, cy, zooms]) => {
  const app = window.viewer.app, gl = app.view.nv.gl, canvas = app.ui.canvas
  const done = () => gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4))
  const p = app.screenOf([cx, cy, k]), times = []
  for (let i = 0; i < zooms; i++) {
    await new Promise((r) => requestAnimationFrame(r))
    const deltaY = (Math.floor(i / 5) % 2 ? 100 : -100) // five in, five out
    const t0 = performance.now()
    const init = { deltaY, ctrlKey: true, clientX: p[0], clientY: p[1], bubbles: true }
    canvas.dispatchEvent(new WheelEvent('wheel', { ...init, cancelable: true }))
    done()
    times.push(performance.now() - t0)
  }
  const zoom = app.viewport.state[3]
  app.viewport.fit()
  return { times, zoom }
}"""

INTERPOLATE_JS = """async ([id, k0, k1]) => {
  const app = window.viewer.app, gl = app.view.nv.gl
  if (typeof app.interpolate !== 'function') return null
  const t0 = performance.now()
  const out = await app.interpolate(id, k0, k1)
  gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4))
  return { ms: performance.now() - t0, ...out }
}"""


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def run(size: int, slices: int, moves: int, zooms: int) -> dict:
    from playwright.sync_api import sync_playwright

    require_viewer_build()
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    with (
        serving_case("bench-interact-", size, slices, 19000) as (url, cookie, case_id),
        sync_playwright() as p,
    ):
        browser = launch_chromium(p)
        ctx = browser.new_context(viewport={"width": 1400, "height": 860})
        ctx.add_cookies([{"name": "sessionid", "value": cookie, "url": url}])
        page = ctx.new_page()
        state = open_case(page, url, case_id)
        k = state["targets"][0]["keyIndex"]
        c = size // 2
        stroke = page.evaluate(STROKE_JS, [k, c - 10, c, moves, 25])
        # a second painted slice 21 slices on: 20 slices between to interpolate
        k1 = min(slices - 1, k + 21)
        page.evaluate(STROKE_JS, [k1, c - 10, c, 24, 15])
        zoom = page.evaluate(ZOOM_JS, [k1, c, c, zooms])
        interp = page.evaluate(INTERPOLATE_JS, [stroke["target"], k, k1])
        renderer = page.evaluate("window.viewer.app.view.renderer")
        slice_mode = page.evaluate("window.viewer.state().sliceMode")
        errors = page.evaluate("window.viewer.error")
        ctx.close()
        browser.close()
    out = {
        "stroke_p95_ms": round(p95(stroke["times"]), 1),
        "stroke_median_ms": round(statistics.median(stroke["times"]), 1),
        "stroke_voxels_painted": stroke["painted"],
        "zoom_frame_p95_ms": round(p95(zoom["times"]), 1),
        "zoom_frame_median_ms": round(statistics.median(zoom["times"]), 1),
        "interpolate_20_ms": round(interp["ms"], 1) if interp else None,
        "case": f"CT {size}x{size}x{slices}",
        "slice_mode": slice_mode,
        "renderer": renderer,
    }
    if interp:
        out["interpolated_slices"] = interp.get("slices")
    else:
        out["note"] = "this viewer has no app.interpolate (frontend/src/interpolate.js): not timed"
    if errors:
        out["viewer_error"] = errors
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--moves", type=int, default=60)
    parser.add_argument("--zooms", type=int, default=40)
    args = parser.parse_args()
    print(json.dumps(run(args.size, args.slices, args.moves, args.zooms)))


if __name__ == "__main__":
    main()
