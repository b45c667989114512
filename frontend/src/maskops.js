// Mask edits on RAS-ordered uint8 masks (0/1). Every edit returns the list of voxels it flipped,
// which is all the undo history needs: applying the same list again undoes it.

import { PLANE_AXES, NORMAL_AXIS } from './grid.js'

/** A growable list of voxel indices. */
export class IndexList {
  constructor(capacity = 1024) {
    this.data = new Uint32Array(capacity)
    this.length = 0
  }
  push(i) {
    if (this.length === this.data.length) {
      const bigger = new Uint32Array(this.data.length * 2)
      bigger.set(this.data)
      this.data = bigger
    }
    this.data[this.length++] = i
  }
  toArray() {
    return this.data.slice(0, this.length)
  }
}

function stepsOf(dims) {
  return [1, dims[0], dims[0] * dims[1]]
}

/** In-plane brush radii (voxels) for a view, so the brush is round in millimetres. */
export function brushRadii(size, spacing, view) {
  const [u, v] = PLANE_AXES[view]
  const finest = Math.min(spacing[u], spacing[v])
  const r = Math.max(0.5, size / 2) * finest
  return [r / spacing[u], r / spacing[v]]
}

/**
 * Paint (value 1) or erase (value 0) an ellipse centred at `center` (RAS voxel coordinates,
 * fractional) on the slice of `view` through it. Flipped voxels are pushed to `out`. `gate`
 * (optional, voxel index → boolean): only voxels it admits change (threshold paint).
 */
export function dab(mask, dims, view, center, radii, value, out, gate = null) {
  const [u, v] = PLANE_AXES[view]
  const w = NORMAL_AXIS[view]
  const steps = stepsOf(dims)
  const k = Math.round(center[w])
  if (k < 0 || k >= dims[w]) return
  const [ru, rv] = radii
  const u0 = Math.max(0, Math.ceil(center[u] - ru)), u1 = Math.min(dims[u] - 1, Math.floor(center[u] + ru))
  const v0 = Math.max(0, Math.ceil(center[v] - rv)), v1 = Math.min(dims[v] - 1, Math.floor(center[v] + rv))
  const base = k * steps[w]
  for (let b = v0; b <= v1; b++) {
    const dv = (b - center[v]) / rv
    for (let a = u0; a <= u1; a++) {
      const du = (a - center[u]) / ru
      if (du * du + dv * dv > 1.0001) continue
      const i = base + a * steps[u] + b * steps[v]
      if (mask[i] !== value && (!gate || gate(i))) {
        mask[i] = value
        out.push(i)
      }
    }
  }
  // A brush smaller than a voxel still paints the voxel under it.
  if (ru < 1 && rv < 1) {
    const i = base + Math.round(center[u]) * steps[u] + Math.round(center[v]) * steps[v]
    if (Math.round(center[u]) >= 0 && Math.round(center[u]) < dims[u] && Math.round(center[v]) >= 0 &&
        Math.round(center[v]) < dims[v] && mask[i] !== value && (!gate || gate(i))) {
      mask[i] = value
      out.push(i)
    }
  }
}

/** Dabs along the segment from `a` to `b` (same slice), spaced so the stroke has no gaps. */
export function stroke(mask, dims, view, a, b, radii, value, out, gate = null) {
  const [u, v] = PLANE_AXES[view]
  const dist = Math.hypot((b[u] - a[u]) / radii[0], (b[v] - a[v]) / radii[1])
  const n = Math.max(1, Math.ceil(dist / 0.5))
  for (let s = 1; s <= n; s++) {
    const t = s / n
    dab(mask, dims, view, [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t], radii, value, out, gate)
  }
}

/**
 * Fill the region enclosed by the mask around `seed` on its slice (4-connected). Returns the
 * flipped voxels, or null when the region is not closed (it reaches the slice's border).
 */
export function fillEnclosed(mask, dims, view, seed) {
  const [u, v] = PLANE_AXES[view]
  const w = NORMAL_AXIS[view]
  const steps = stepsOf(dims)
  const k = Math.round(seed[w])
  const su = Math.round(seed[u]), sv = Math.round(seed[v])
  const nu = dims[u], nv = dims[v]
  if (su < 0 || sv < 0 || su >= nu || sv >= nv || k < 0 || k >= dims[w]) return null
  const base = k * steps[w]
  const at = (a, b) => base + a * steps[u] + b * steps[v]
  if (mask[at(su, sv)] !== 0) return new Uint32Array(0)
  const seen = new Uint8Array(nu * nv)
  const stack = [su + sv * nu]
  seen[su + sv * nu] = 1
  const region = new IndexList()
  while (stack.length) {
    const p = stack.pop()
    const a = p % nu, b = (p - a) / nu
    if (a === 0 || b === 0 || a === nu - 1 || b === nv - 1) return null
    region.push(at(a, b))
    for (const [da, db] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) {
      const q = a + da + (b + db) * nu
      if (!seen[q] && mask[at(a + da, b + db)] === 0) {
        seen[q] = 1
        stack.push(q)
      }
    }
  }
  const flipped = region.toArray()
  for (const i of flipped) mask[i] = 1
  return flipped
}

/** Erase the whole slice `index` of `view`; returns the flipped voxels. */
export function clearSlice(mask, dims, view, index) {
  const [u, v] = PLANE_AXES[view]
  const w = NORMAL_AXIS[view]
  const steps = stepsOf(dims)
  if (index < 0 || index >= dims[w]) return new Uint32Array(0)
  const out = new IndexList()
  const base = index * steps[w]
  for (let b = 0; b < dims[v]; b++) {
    for (let a = 0; a < dims[u]; a++) {
      const i = base + a * steps[u] + b * steps[v]
      if (mask[i]) {
        mask[i] = 0
        out.push(i)
      }
    }
  }
  return out.toArray()
}

/** Flip the listed voxels (undo and redo are the same operation). */
export function flip(mask, indices) {
  for (let k = 0; k < indices.length; k++) mask[indices[k]] ^= 1
}

/** Indices where two masks differ. */
export function diff(a, b) {
  const out = new IndexList()
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) out.push(i)
  return out.toArray()
}

export function count(mask) {
  let n = 0
  for (let i = 0; i < mask.length; i++) n += mask[i]
  return n
}

/** Voxels set on slice `index` of axis `axis`. */
export function countSlice(mask, dims, axis, index) {
  const steps = stepsOf(dims)
  const [u, v] = [0, 1, 2].filter((a) => a !== axis)
  let n = 0
  for (let b = 0; b < dims[v]; b++) {
    for (let a = 0; a < dims[u]; a++) n += mask[index * steps[axis] + a * steps[u] + b * steps[v]]
  }
  return n
}

/** Inclusive bounding box [x0, y0, z0, x1, y1, z1] of a list of indices, or null if empty. */
export function bboxOf(indices, dims) {
  if (!indices.length) return null
  const nxy = dims[0] * dims[1]
  let x0 = Infinity, y0 = Infinity, z0 = Infinity, x1 = -1, y1 = -1, z1 = -1
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]
    const z = Math.floor(i / nxy), r = i - z * nxy
    const y = Math.floor(r / dims[0]), x = r - y * dims[0]
    if (x < x0) x0 = x
    if (x > x1) x1 = x
    if (y < y0) y0 = y
    if (y > y1) y1 = y
    if (z < z0) z0 = z
    if (z > z1) z1 = z
  }
  return [x0, y0, z0, x1, y1, z1]
}

export function unionBox(a, b) {
  if (!a) return b
  if (!b) return a
  return [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.min(a[2], b[2]), Math.max(a[3], b[3]), Math.max(a[4], b[4]), Math.max(a[5], b[5])]
}

/** Bounding box of the set voxels of a mask (scans it once), or null if empty. */
export function bboxOfMask(mask, dims) {
  const [nx, ny, nz] = dims
  let box = null
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      const row = (z * ny + y) * nx
      let first = -1, last = -1
      for (let x = 0; x < nx; x++) {
        if (mask[row + x]) {
          if (first < 0) first = x
          last = x
        }
      }
      if (first >= 0) box = unionBox(box, [first, y, z, last, y, z])
    }
  }
  return box
}
