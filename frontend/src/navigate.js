// Zoom and pan, as pure functions of NiiVue's 2D pan/zoom (scene.pan2Dxyzmm = [x, y, z, zoom]).
//
// NiiVue shows, in each 2D view, the world (mm) range ((mn − pan) / zoom, (mx − pan) / zoom) of
// the plane's two axes, so a world point m sits on screen at (m·zoom + pan − mn)·k. Keeping a
// point fixed while zooming, or moving one to where another was, is therefore a change of pan
// alone, the same on every axis, and one pan serves all three views of the 3-view layout.

export const ZOOM_MIN = 0.5
export const ZOOM_MAX = 16
/** One wheel notch or key press multiplies the zoom by this. */
export const ZOOM_STEP = 1.25

export const clampZoom = (z) => Math.min(ZOOM_MAX, Math.max(ZOOM_MIN, z))

/** The zoom after `notches` steps in (positive) or out (negative), clamped. */
export const zoomBy = (zoom, notches) => clampZoom(zoom * ZOOM_STEP ** notches)

/** Wheel notches of a wheel event's deltaY (one per 100 px or line, up = in), at most ±4. */
export function wheelNotches(deltaY, deltaMode = 0) {
  const px = deltaMode === 1 ? deltaY * 33 : deltaMode === 2 ? deltaY * 800 : deltaY
  return Math.max(-4, Math.min(4, -px / 100))
}

/** pan2Dxyzmm after zooming to `zoom` with world point `mm` kept where it is on screen. */
export function zoomAt(pan, zoom, mm) {
  const z0 = pan[3]
  return [0, 1, 2].map((a) => pan[a] + mm[a] * (z0 - zoom)).concat(zoom)
}

/**
 * pan2Dxyzmm that puts world point `anchor` where `under` is now (a drag: `anchor` was under the
 * cursor when the button went down, `under` is under it at the current pan).
 */
export function panTo(pan, anchor, under) {
  const z = pan[3]
  return [0, 1, 2].map((a) => pan[a] + (under[a] - anchor[a]) * z).concat(z)
}

/** Fit / reset: no pan, zoom 1 (the whole plane in its view). */
export const FIT = Object.freeze([0, 0, 0, 1])

/** pan2Dxyzmm that moves the image by (dx, dy) screen pixels in a view with `pxPerMm` at zoom 1
 * and plane axes `axes` (RAS indices) whose screen directions are `signs` (+1: right / up). */
export function panByPixels(pan, { dx, dy, pxPerMm, axes, signs }) {
  const out = pan.slice()
  out[axes[0]] += (signs[0] * dx) / pxPerMm
  out[axes[1]] += (signs[1] * -dy) / pxPerMm
  return out
}
