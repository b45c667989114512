// Threshold paint: a brush that paints only voxels whose intensity lies in a range (HU for CT),
// so a stroke over a lesion's edge does not spill into fat, air or bone. Pure rules here
// (tests/threshold.test.js); the brush asks `gateFor` for a voxel test.

/** The range a user typed: numbers, low ≤ high (swapped if typed the other way round), or null. */
export function parseRange(lo, hi) {
  const a = Number(lo), b = Number(hi)
  if (lo === '' || hi === '' || lo == null || hi == null || !Number.isFinite(a) || !Number.isFinite(b)) return null
  return a <= b ? [a, b] : [b, a]
}

/**
 * A test `(i) => boolean` for RAS voxel index i: its intensity (stored value × slope + inter,
 * as NiiVue calibrates it) lies in [lo, hi]. null when the range is off, so the brush pays
 * nothing for it.
 */
export function gateFor(threshold, values, slope = 1, inter = 0) {
  if (!threshold?.on || !values) return null
  const range = parseRange(threshold.lo, threshold.hi)
  if (!range) return null
  const s = slope || 1
  // Compare stored values with the range mapped back to stored units (one multiply saved per voxel).
  let [lo, hi] = range.map((v) => (v - inter) / s)
  if (s < 0) [lo, hi] = [hi, lo]
  return (i) => values[i] >= lo && values[i] <= hi
}

/** The range a new threshold starts from: the display window, rounded. */
export function rangeFromWindow(window) {
  return [Math.round(window.center - window.width / 2), Math.round(window.center + window.width / 2)]
}

/** The unit intensities are in for a modality ('HU' for CT, '' otherwise). */
export const unitFor = (modality) => (modality === 'CT' ? 'HU' : '')

/** Wire the threshold brush to the app (state app.threshold; toolbar controls; T toggles). */
export class ThresholdBrush {
  constructor(app) {
    this.app = app
    this.on = false
    this.lo = null
    this.hi = null
  }

  /** Turn the range on or off; the first time it starts at the display window. */
  toggle(on = !this.on) {
    if (on && this.lo === null) [this.lo, this.hi] = rangeFromWindow(this.app.view.window)
    this.on = on
    if (on && !['brush', 'eraser'].includes(this.app.tool)) this.app.setTool('brush')
    this.app.invalidate('toolbar')
  }

  /** A new range (typed numbers; `quiet`: while typing, the toolbar is not rebuilt). */
  set(lo, hi, { quiet = false } = {}) {
    this.lo = lo
    this.hi = hi
    if (!quiet) this.app.invalidate('toolbar')
  }

  /** The voxel test for a brush stroke (painting only; the eraser erases everything). */
  gate(value) {
    if (value !== 1) return null
    const img = this.app.view.image
    return gateFor(this, img?.img, img?.hdr?.scl_slope, img?.hdr?.scl_inter)
  }

  state() {
    const range = parseRange(this.lo, this.hi)
    return { on: this.on, lo: range ? range[0] : null, hi: range ? range[1] : null }
  }
}
