// What a mask measures, as pure functions (the server's annotator/annotations/measure.py has the
// same rules, so the figures in the viewer are the ones the API and the exports store):
// - volume: voxels × voxel volume / 1000 (mL);
// - long axis: the longest distance between two voxel centres of the key slice's mask (between
//   two corners of their convex hull), in mm;
// - short axis: the longest chord perpendicular to it across that hull (for the roughly convex
//   lesions RECIST measures, the longest perpendicular diameter of the lesion).
// - ruler: the distance between two points in mm, through the image's affine.

/** Volume in mL of `count` voxels of size spacing [sx, sy, sz] mm. */
export const volumeMl = (count, spacing) => (count * spacing[0] * spacing[1] * spacing[2]) / 1000

/** Length in mm of a segment between two voxel positions, through a 3×3 (or 4×4) affine. */
export function rulerMm(a, b, affine) {
  let sum = 0
  for (let r = 0; r < 3; r++) {
    let d = 0
    for (let c = 0; c < 3; c++) d += affine[r][c] * (b[c] - a[c])
    sum += d * d
  }
  return Math.sqrt(sum)
}

function cross(o, a, b) {
  return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
}

/** Convex hull (monotone chain) of [x, y] points; collinear points dropped. */
export function hull(points) {
  const pts = points.slice().sort((p, q) => p[0] - q[0] || p[1] - q[1])
  if (pts.length <= 2) return pts
  const half = (seq) => {
    const out = []
    for (const p of seq) {
      while (out.length >= 2 && cross(out[out.length - 2], out[out.length - 1], p) <= 0) out.pop()
      out.push(p)
    }
    out.pop()
    return out
  }
  return [...half(pts), ...half(pts.reverse())]
}

/**
 * RECIST-style axes of a 2D mask (row-major, `width` × `height`, non-zero = inside) with pixel
 * spacing [sx, sy] mm: { longMm, shortMm, longEnds, shortEnds } (ends as [x, y] pixels), or null
 * for an empty mask.
 */
export function recist(mask, width, height, spacing) {
  const [sx, sy] = spacing
  let first = null
  const boundary = []
  const at = (x, y) => x >= 0 && y >= 0 && x < width && y < height && mask[y * width + x] !== 0
  for (let y = 0; y < height; y++) {
    const row = y * width
    for (let x = 0; x < width; x++) {
      if (!mask[row + x]) continue
      first ??= [x, y]
      if (!at(x - 1, y) || !at(x + 1, y) || !at(x, y - 1) || !at(x, y + 1)) boundary.push([x * sx, y * sy])
    }
  }
  if (!first) return null
  const h = hull(boundary)
  let best = 0, ia = 0, ib = 0
  for (let i = 0; i < h.length; i++) {
    for (let j = i + 1; j < h.length; j++) {
      const d = Math.hypot(h[i][0] - h[j][0], h[i][1] - h[j][1])
      if (d > best) [best, ia, ib] = [d, i, j]
    }
  }
  const vox = (p) => [p[0] / sx, p[1] / sy]
  if (best === 0) {
    return { longMm: 0, shortMm: 0, longEnds: [first, first], shortEnds: [first, first] }
  }
  const a = h[ia], b = h[ib]
  const u = [(b[0] - a[0]) / best, (b[1] - a[1]) / best]
  const n = [-u[1], u[0]]
  // Each hull corner in (t along the long axis, s across it). The hull's chord across the long
  // axis is a concave function of t, so its longest is at a corner.
  const ts = h.map((p) => (p[0] - a[0]) * u[0] + (p[1] - a[1]) * u[1])
  const ss = h.map((p) => (p[0] - a[0]) * n[0] + (p[1] - a[1]) * n[1])
  let short = { len: 0, t: 0, lo: 0, hi: 0 }
  for (const t of ts) {
    let lo = Infinity, hi = -Infinity
    for (let i = 0; i < h.length; i++) {
      const j = (i + 1) % h.length
      const [t0, t1] = [ts[i], ts[j]]
      if ((t - t0) * (t - t1) > 0) continue
      const s = t1 === t0 ? [ss[i], ss[j]] : [ss[i] + ((t - t0) / (t1 - t0)) * (ss[j] - ss[i])]
      for (const v of s) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)]
    }
    if (hi - lo > short.len) short = { len: hi - lo, t, lo, hi }
  }
  const point = (t, s) => vox([a[0] + t * u[0] + s * n[0], a[1] + t * u[1] + s * n[1]])
  return {
    longMm: best,
    shortMm: short.len,
    longEnds: [vox(a), vox(b)],
    shortEnds: [point(short.t, short.lo), point(short.t, short.hi)],
  }
}

/**
 * The native slice z = k of a RAS-ordered mask, in native (x, y) order (what the server
 * measures), or null when it has no voxel set. `grid` is a Grid (grid.js); `box` (RAS inclusive
 * [x0, y0, z0, x1, y1, z1], optional) limits the search to where the mask may be set.
 */
export function nativeSlice(mask, grid, k, box = null) {
  const [nx, ny] = grid.dims
  const rasStride = [1, grid.rasDims[0], grid.rasDims[0] * grid.rasDims[1]]
  // RAS linear index of native (x, y, k) = base + x·dx + y·dy
  const term = (i, c) => rasStride[grid.rasOf[i]] * (grid.flip[i] ? grid.dims[i] - 1 - c : c)
  const base = term(0, 0) + term(1, 0) + term(2, k)
  const dx = term(0, 1) - term(0, 0), dy = term(1, 1) - term(1, 0)
  if (box) {
    const ras = grid.toRasCoord([0, 0, k])
    const a = grid.rasOf[2]
    if (ras[a] < box[a] || ras[a] > box[a + 3]) return null
  }
  const out = new Uint8Array(nx * ny)
  let any = false
  for (let y = 0; y < ny; y++) {
    const row = base + y * dy
    for (let x = 0; x < nx; x++) {
      if (mask[row + x * dx]) {
        out[y * nx + x] = 1
        any = true
      }
    }
  }
  return any ? out : null
}

/** A target's figures: { volumeMl, longMm, shortMm, longEnds, shortEnds, slice } (native). */
export function measureTarget(mask, count, grid, keyIndex, box = null) {
  const spacing = grid.dims.map((_, i) => Math.hypot(grid.affine[0][i], grid.affine[1][i], grid.affine[2][i]))
  const out = { volumeMl: volumeMl(count, spacing), longMm: null, shortMm: null, longEnds: null, shortEnds: null, slice: keyIndex }
  if (!mask || !count || keyIndex == null || keyIndex < 0 || keyIndex >= grid.dims[2]) return out
  const slice = nativeSlice(mask, grid, keyIndex, box)
  const axes = slice && recist(slice, grid.dims[0], grid.dims[1], spacing)
  return axes ? { ...out, ...axes } : out
}

/** '12.3 mL', '4.56 mL', '0.012 mL': three significant figures, at most 1 decimal above 100. */
export function formatMl(ml) {
  if (ml == null) return '—'
  const digits = ml >= 100 ? 1 : ml >= 10 ? 2 : ml >= 1 ? 2 : 3
  return `${ml.toFixed(digits)} mL`
}

export const formatMm = (mm) => (mm == null ? '—' : `${mm.toFixed(1)} mm`)
