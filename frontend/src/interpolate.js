// Shape-based interpolation between two slices of a mask (pure; tests/interpolate.test.js).
//
// Each key slice becomes a signed distance map (positive inside, negative outside, in mm, the
// boundary half a voxel from the voxels either side of it). A slice between them gets the linear
// blend of the two maps, thresholded at 0: a disc of radius 4 and one of radius 8 give discs of
// radius 5, 6, 7 between. An empty key slice is a point at the other shape's centroid, so the
// shape tapers to it. The slices strictly between are replaced; the key slices are not touched.

import { PLANE_AXES, NORMAL_AXIS } from './grid.js'
import { IndexList } from './maskops.js'

const INF = 1e20

/**
 * Exact squared Euclidean distance transform in one dimension (Felzenszwalb & Huttenlocher):
 * d[p] = min_q (f[q] + (s·(p − q))²). `f` is 0 at features and INF elsewhere; reads `f` from
 * `src` at `start + k·stride` and writes `dst` the same way. Scratch arrays of length n (+1).
 */
function edt1d(src, dst, start, stride, n, s2, v, z, f) {
  for (let k = 0; k < n; k++) f[k] = src[start + k * stride]
  let k = 0
  v[0] = 0
  z[0] = -INF
  z[1] = INF
  for (let q = 1; q < n; q++) {
    if (f[q] >= INF) continue // never a parabola's minimum; skipping keeps INF arithmetic out
    if (f[v[k]] >= INF) { v[k] = q; continue } // replace a sentinel first parabola
    let sq = (f[q] + s2 * q * q - (f[v[k]] + s2 * v[k] * v[k])) / (2 * s2 * (q - v[k]))
    while (sq <= z[k]) {
      k--
      sq = (f[q] + s2 * q * q - (f[v[k]] + s2 * v[k] * v[k])) / (2 * s2 * (q - v[k]))
    }
    k++
    v[k] = q
    z[k] = sq
    z[k + 1] = INF
  }
  k = 0
  for (let q = 0; q < n; q++) {
    while (z[k + 1] < q) k++
    const d = q - v[k]
    const fv = f[v[k]]
    dst[start + q * stride] = fv >= INF ? INF : s2 * d * d + fv
  }
}

/**
 * Squared distance (mm²) from each pixel of a w×h grid (x fastest) to the nearest pixel where
 * `bin` equals `feature` (0 or 1); INF where there is none. `spacing` = [sx, sy] mm.
 */
export function squaredDistance(bin, w, h, feature = 1, spacing = [1, 1]) {
  const a = new Float64Array(w * h)
  // Along y the nearest feature of a column is found by two scans (no parabolas needed).
  const sy = spacing[1]
  for (let x = 0; x < w; x++) {
    let last = -1
    for (let y = 0, i = x; y < h; y++, i += w) {
      if (bin[i] === feature) last = y
      a[i] = last < 0 ? INF : (y - last) * (y - last)
    }
    last = -1
    for (let y = h - 1, i = x + y * w; y >= 0; y--, i -= w) {
      if (bin[i] === feature) last = y
      if (last >= 0) {
        const d = (last - y) * (last - y)
        if (d < a[i]) a[i] = d
      }
      if (a[i] < INF) a[i] *= sy * sy
    }
  }
  const v = new Int32Array(w), z = new Float64Array(w + 1), f = new Float64Array(w)
  for (let y = 0; y < h; y++) edt1d(a, a, y * w, 1, w, spacing[0] * spacing[0], v, z, f)
  return a
}

/**
 * Signed distance of a binary w×h image: inside, the distance to the nearest outside pixel
 * less half a voxel; outside, minus (the distance to the nearest inside pixel less half a
 * voxel). Pixels beyond the grid count as outside.
 */
export function signedDistance(bin, w, h, spacing = [1, 1]) {
  // Pad by one outside pixel all round, so a shape touching the edge has a border.
  const W = w + 2, H = h + 2
  const padded = new Uint8Array(W * H)
  for (let y = 0; y < h; y++) padded.set(bin.subarray(y * w, (y + 1) * w), (y + 1) * W + 1)
  const toOut = squaredDistance(padded, W, H, 0, spacing)
  const toIn = squaredDistance(padded, W, H, 1, spacing)
  const half = Math.min(spacing[0], spacing[1]) / 2
  const out = new Float64Array(w * h)
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y + 1) * W + x + 1
      out[y * w + x] = padded[i] ? Math.sqrt(toOut[i]) - half : half - Math.sqrt(toIn[i])
    }
  }
  return out
}

/** Minus the distance (mm) of each pixel to a point: a shape of no size there. */
function pointDistance(w, h, cx, cy, spacing) {
  const out = new Float64Array(w * h)
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = -Math.hypot((x - cx) * spacing[0], (y - cy) * spacing[1])
  return out
}

/** The slice `index` of `view` as a w×h image cropped to [u0, v0, w, h]. */
function cropSlice(mask, dims, view, index, [u0, v0, w, h]) {
  const [u, v] = PLANE_AXES[view]
  const steps = [1, dims[0], dims[0] * dims[1]]
  const base = index * steps[NORMAL_AXIS[view]]
  const out = new Uint8Array(w * h)
  for (let b = 0; b < h; b++) for (let a = 0; a < w; a++) out[b * w + a] = mask[base + (u0 + a) * steps[u] + (v0 + b) * steps[v]]
  return out
}

/** Bounding box [u0, v0, u1, v1] of the set voxels of slice `index` of `view` in `area`, or null. */
function sliceBox(mask, dims, view, index, area) {
  const [u, v] = PLANE_AXES[view]
  const steps = [1, dims[0], dims[0] * dims[1]]
  const base = index * steps[NORMAL_AXIS[view]]
  let box = null
  for (let b = area[1]; b <= area[3]; b++) {
    for (let a = area[0]; a <= area[2]; a++) {
      if (!mask[base + a * steps[u] + b * steps[v]]) continue
      if (!box) box = [a, b, a, b]
      else {
        if (a < box[0]) box[0] = a
        if (b < box[1]) box[1] = b
        if (a > box[2]) box[2] = a
        if (b > box[3]) box[3] = b
      }
    }
  }
  return box
}

function centroid(bin, w, h) {
  let n = 0, sx = 0, sy = 0
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (bin[y * w + x]) { n++; sx += x; sy += y }
  return [sx / n, sy / n]
}

/**
 * Interpolate the slices strictly between `from` and `to` (indices along the normal axis of
 * `view`: 0 axial, 1 coronal, 2 sagittal) of a RAS-ordered uint8 mask, in place. `spacing`:
 * the in-plane voxel size [u, v] in mm. Returns the indices of the voxels it flipped (an undo
 * entry), or null when both key slices are empty (nothing to interpolate). `within`
 * [u0, v0, u1, v1] (in-plane, inclusive, optional): a box known to hold every set voxel of the
 * slices from `from` to `to` (e.g. the target's extent), so the rest of them is not scanned.
 */
export function interpolateSlices(mask, dims, view, from, to, { spacing = [1, 1], within = null } = {}) {
  const w = NORMAL_AXIS[view]
  if (![from, to].every((k) => Number.isInteger(k) && k >= 0 && k < dims[w])) throw new RangeError(`slices ${from} and ${to} must be in 0..${dims[w] - 1}`)
  if (from > to) [from, to] = [to, from]
  const [pu, pv] = PLANE_AXES[view]
  const area = within
    ? [Math.max(0, within[0]), Math.max(0, within[1]), Math.min(dims[pu] - 1, within[2]), Math.min(dims[pv] - 1, within[3])]
    : [0, 0, dims[pu] - 1, dims[pv] - 1]
  const boxA = sliceBox(mask, dims, view, from, area)
  const boxB = sliceBox(mask, dims, view, to, area)
  if (!boxA && !boxB) return null
  const flipped = new IndexList(1 << 16)
  if (to - from < 2) return flipped.toArray()
  // Everything interpolated lies within the union of the two shapes' boxes.
  const both = [boxA, boxB].filter(Boolean)
  const u0 = Math.min(...both.map((b) => b[0])), v0 = Math.min(...both.map((b) => b[1]))
  const cw = Math.max(...both.map((b) => b[2])) - u0 + 1, ch = Math.max(...both.map((b) => b[3])) - v0 + 1
  const crop = [u0, v0, cw, ch]
  const binA = cropSlice(mask, dims, view, from, crop)
  const binB = cropSlice(mask, dims, view, to, crop)
  const dA = boxA ? signedDistance(binA, cw, ch, spacing) : pointDistance(cw, ch, ...centroid(binB, cw, ch), spacing)
  const dB = boxB ? signedDistance(binB, cw, ch, spacing) : pointDistance(cw, ch, ...centroid(binA, cw, ch), spacing)

  const [u, v] = PLANE_AXES[view]
  const steps = [1, dims[0], dims[0] * dims[1]]
  const su = steps[u], sv = steps[v]
  const u1 = u0 + cw, v1 = v0 + ch
  // The part of each slice between to visit: the crop and wherever voxels may be set now.
  const [su0, sv0, su1, sv1] = [area[0], area[1], area[2] + 1, area[3] + 1]
  // Outside the crop a slice between only loses voxels (a tight loop over the row).
  const clear = (row, a0, a1) => {
    for (let a = a0, i = row + a0 * su; a < a1; a++, i += su) {
      if (mask[i]) {
        mask[i] = 0
        flipped.push(i)
      }
    }
  }
  for (let k = from + 1; k < to; k++) {
    const t = (k - from) / (to - from), s = 1 - t
    const base = k * steps[w]
    for (let b = sv0; b < sv1; b++) {
      const row = base + b * sv
      if (b < v0 || b >= v1) {
        clear(row, su0, su1)
        continue
      }
      clear(row, su0, u0)
      let j = (b - v0) * cw
      for (let a = u0, i = row + u0 * su; a < u1; a++, i += su, j++) {
        const value = s * dA[j] + t * dB[j] > 0 ? 1 : 0
        if (mask[i] !== value) {
          mask[i] = value
          flipped.push(i)
        }
      }
      clear(row, u1, su1)
    }
  }
  return flipped.toArray()
}

/**
 * The two slices to interpolate between for a target: the two most recently edited distinct
 * slices along the view's normal axis (kept by the app as edits happen), or null.
 */
export function keyPair(edited) {
  return edited && edited.length >= 2 ? [edited[0], edited[1]].sort((a, b) => a - b) : null
}

/** Record an edit on slice `index` (most recent first, distinct, at most `keep`). */
export function noteSlice(edited, index, keep = 8) {
  const out = [index, ...edited.filter((k) => k !== index)]
  return out.slice(0, keep)
}

/** Native slice number k along native axis `i` ↔ RAS index along the RAS axis it runs along. */
const nativeToRas = (grid, i, k) => (grid.flip[i] ? grid.dims[i] - 1 - k : k)

/**
 * Interpolation in the viewer: remembers the slices each target was edited on (per view
 * axis), runs the interpolation between the last two (the `I` key) or between any two
 * (`app.interpolate`), as one undo step.
 */
export class SliceInterpolation {
  constructor(app) {
    this.app = app
    this.edited = new Map() // `${target}:${RAS axis}` → RAS slice indices, most recent first
  }

  /** An edit of `t` covering `box` (RAS) in the focus view: remember its slice if it has one. */
  noteEdit(t, box) {
    if (!box || !this.app.view) return
    const axis = NORMAL_AXIS[this.app.focusView()]
    if (box[axis] !== box[axis + 3]) return // several slices (interpolation, a model result)
    const key = `${t.id}:${axis}`
    this.edited.set(key, noteSlice(this.edited.get(key) || [], box[axis]))
    this.app.invalidate('toolbar')
  }

  /** The RAS slices the `I` key would interpolate between in `view`, or null. */
  pair(t = this.app.current, view = this.app.focusView()) {
    return t ? keyPair(this.edited.get(`${t.id}:${NORMAL_AXIS[view]}`)) : null
  }

  /** Native slice numbers of a RAS pair in `view` (what the HUD shows, less one). */
  nativePair(pair, view = this.app.focusView()) {
    const i = this.app.grid.nativeOf[NORMAL_AXIS[view]]
    return pair.map((k) => nativeToRas(this.app.grid, i, k)).sort((a, b) => a - b)
  }

  /** The `I` key: interpolate the active target between its last two edited slices. */
  run() {
    const { app } = this
    const t = app.current
    if (!app.masks.editable(t)) return
    const view = app.focusView()
    const pair = this.pair(t, view)
    if (!pair) return app.ui.toast('Draw or correct the target on two slices of this view, then interpolate (I) to fill the slices between.', 'info', 5000)
    return this.apply(t, view, pair[0], pair[1])
  }

  /** Interpolate between RAS slices `from` and `to` of `view`: one history entry. */
  apply(t, view, from, to) {
    const { app } = this
    const t0 = performance.now()
    const [u, v] = PLANE_AXES[view]
    const e = t.extent
    const flipped = interpolateSlices(app.masks.of(t), app.grid.rasDims, view, from, to, {
      spacing: [app.view.spacing[u], app.view.spacing[v]],
      within: e ? [e[u], e[v], e[u + 3], e[v + 3]] : null,
    })
    const slices = Math.max(0, Math.abs(to - from) - 1)
    if (flipped === null) app.ui.toast('Both slices are empty: draw the target on them first.', 'warn')
    else if (!slices) app.ui.toast('There is no slice between these two.', 'info', 2500)
    else if (flipped.length) app.masks.commit(t, flipped, 'interpolate')
    app.activity.touch(t.id)
    const ms = performance.now() - t0
    app.marks.interpolateMs = ms
    return { voxels: flipped ? flipped.length : 0, slices: flipped ? slices : 0, ms }
  }

  /**
   * `app.interpolate(targetId, fromSlice, toSlice, {view})`: slices are native slice numbers
   * along the normal of `view` (default: the key view, so k as in a target's key_index and
   * state().slice[2]). Resolves to {voxels (changed), slices (filled), ms} once the mask and
   * the display are updated; rejects when the target cannot be edited.
   */
  async interpolate(targetId, fromSlice, toSlice, { view = this.app.grid.keyView() } = {}) {
    const { app } = this
    const t = app.target(targetId)
    if (!t) throw new Error(`no target ${targetId}`)
    if (!app.masks.editable(t, { quiet: true })) throw new Error(`target ${targetId} cannot be edited now`)
    const i = app.grid.nativeOf[NORMAL_AXIS[view]]
    return this.apply(t, view, nativeToRas(app.grid, i, fromSlice), nativeToRas(app.grid, i, toSlice))
  }

  /** Voxels of a target per native slice of `view` (tests and the bench read it). */
  sliceCounts(targetId, view = this.app.grid.keyView()) {
    const { grid } = this.app
    const t = this.app.target(targetId)
    const axis = NORMAL_AXIS[view]
    const i = grid.nativeOf[axis]
    const out = new Array(grid.rasDims[axis]).fill(0)
    if (!t?.mask) return out
    const [nx, ny] = grid.rasDims
    const m = t.mask
    for (let idx = 0; idx < m.length; idx++) {
      if (!m[idx]) continue
      const c = [idx % nx, Math.floor(idx / nx) % ny, Math.floor(idx / (nx * ny))][axis]
      out[nativeToRas(grid, i, c)]++
    }
    return out
  }
}
