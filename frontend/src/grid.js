// The voxel grid of a case and its RAS-ordered twin.
//
// The server stores images and masks in their own voxel order (x fastest). The viewer keeps a
// copy in RAS order (x → Right, y → Anterior, z → Superior, each axis a permutation and flip
// of the stored ones, never a resampling), so what NiiVue draws, what the brush paints and what
// is saved are the same voxels. `Grid` converts arrays and coordinates between the two orders.

import * as nifti from './nifti.js'

export class Grid {
  /**
   * @param {number[]} dims native [nx, ny, nz]
   * @param {number[][]} affine 4×4 row-major, native voxel → RAS mm
   */
  constructor(dims, affine) {
    this.dims = dims.slice(0, 3)
    this.affine = affine
    // For each native axis: the RAS axis it runs along (the largest component) and its sign.
    const cols = [0, 1, 2].map((i) => [affine[0][i], affine[1][i], affine[2][i]])
    const rasOf = [-1, -1, -1]
    const flip = [false, false, false]
    const order = [0, 1, 2].sort((a, b) => Math.max(...cols[b].map(Math.abs)) - Math.max(...cols[a].map(Math.abs)))
    const taken = new Set()
    for (const i of order) {
      let best = -1
      for (let j = 0; j < 3; j++) {
        if (taken.has(j)) continue
        if (best < 0 || Math.abs(cols[i][j]) > Math.abs(cols[i][best])) best = j
      }
      taken.add(best)
      rasOf[i] = best
      flip[i] = cols[i][best] < 0
    }
    this.rasOf = rasOf
    this.flip = flip
    this.nativeOf = [0, 0, 0]
    rasOf.forEach((j, i) => { this.nativeOf[j] = i })
    this.rasDims = [0, 1, 2].map((j) => this.dims[this.nativeOf[j]])
    const stride = [1, this.dims[0], this.dims[0] * this.dims[1]]
    // native linear index = start + Σ ras_j · step[j]
    this.step = [0, 0, 0]
    this.start = 0
    for (let j = 0; j < 3; j++) {
      const i = this.nativeOf[j]
      this.step[j] = flip[i] ? -stride[i] : stride[i]
      if (flip[i]) this.start += (this.dims[i] - 1) * stride[i]
    }
    this.size = this.dims[0] * this.dims[1] * this.dims[2]
  }

  get isIdentity() {
    return this.step[0] === 1 && this.step[1] === this.dims[0] && this.step[2] === this.dims[0] * this.dims[1]
  }

  /** Voxel size in mm along each RAS axis. */
  get rasSpacing() {
    const A = this.rasAffine()
    return [0, 1, 2].map((j) => Math.hypot(A[0][j], A[1][j], A[2][j]))
  }

  /** Native voxel coordinates of a RAS voxel (integers or fractions). */
  toNativeCoord(ras) {
    const out = [0, 0, 0]
    for (let i = 0; i < 3; i++) {
      const c = ras[this.rasOf[i]]
      out[i] = this.flip[i] ? this.dims[i] - 1 - c : c
    }
    return out
  }

  /** RAS voxel coordinates of a native voxel. */
  toRasCoord(native) {
    const out = [0, 0, 0]
    for (let i = 0; i < 3; i++) {
      const c = this.flip[i] ? this.dims[i] - 1 - native[i] : native[i]
      out[this.rasOf[i]] = c
    }
    return out
  }

  rasIndex(x, y, z) {
    return x + this.rasDims[0] * (y + this.rasDims[1] * z)
  }

  /** Fill `out` (RAS order) from `src` (native order). */
  toRas(src, out = new src.constructor(this.size)) {
    this._walk((rasAt, nativeAt, n, step) => {
      if (step === 1) out.set(src.subarray(nativeAt, nativeAt + n), rasAt)
      else if (step === -1) out.subarray(rasAt, rasAt + n).set(src.subarray(nativeAt - n + 1, nativeAt + 1)), out.subarray(rasAt, rasAt + n).reverse()
      else for (let k = 0; k < n; k++) out[rasAt + k] = src[nativeAt + k * step]
    })
    return out
  }

  /** Fill `out` (native order) from `src` (RAS order). */
  toNative(src, out = new src.constructor(this.size)) {
    this._walk((rasAt, nativeAt, n, step) => {
      if (step === 1) out.set(src.subarray(rasAt, rasAt + n), nativeAt)
      else if (step === -1) out.subarray(nativeAt - n + 1, nativeAt + 1).set(src.subarray(rasAt, rasAt + n)), out.subarray(nativeAt - n + 1, nativeAt + 1).reverse()
      else for (let k = 0; k < n; k++) out[nativeAt + k * step] = src[rasAt + k]
    })
    return out
  }

  _walk(row) {
    const [n0, n1, n2] = this.rasDims
    const [s0, s1, s2] = this.step
    let rasAt = 0
    for (let z = 0; z < n2; z++) {
      for (let y = 0; y < n1; y++) {
        row(rasAt, this.start + y * s1 + z * s2, n0, s0)
        rasAt += n0
      }
    }
  }

  /** Affine (4×4 row-major) of the RAS-ordered copy: the same voxels in the same places. */
  rasAffine() {
    const origin = this.toNativeCoord([0, 0, 0])
    const A = this.affine
    const out = [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]]
    for (let j = 0; j < 3; j++) {
      const i = this.nativeOf[j]
      const sign = this.flip[i] ? -1 : 1
      for (let r = 0; r < 3; r++) out[r][j] = A[r][i] * sign
    }
    for (let r = 0; r < 3; r++) out[r][3] = A[r][0] * origin[0] + A[r][1] * origin[1] + A[r][2] * origin[2] + A[r][3]
    return out
  }

  /** Which view (0 axial, 1 coronal, 2 sagittal) shows native slices k = const (the key axis). */
  keyView() {
    return [2, 1, 0][this.rasOf[2]]
  }
}

/** View number (0 axial, 1 coronal, 2 sagittal) → the RAS axis normal to its plane. */
export const NORMAL_AXIS = [2, 1, 0]
/** View number → the two in-plane RAS axes (horizontal, vertical). */
export const PLANE_AXES = [[0, 1], [0, 2], [1, 2]]

/**
 * A NIfTI buffer (as stored: native order) re-ordered to RAS for NiiVue, with the display window
 * as its calibration. Returns {buffer (RAS NIfTI), dims, affine} (dims and affine native).
 */
export function rasNifti(buffer, window) {
  const header = nifti.parseHeader(buffer)
  const grid = new Grid(header.dims, header.affine)
  const [calMin, calMax] = windowBounds(window) ?? [0, 0]
  const out = nifti.allocate({
    dims: grid.rasDims, datatype: header.datatype, affine: grid.rasAffine(),
    slope: header.slope, inter: header.inter, calMin, calMax,
  })
  grid.toRas(nifti.voxels(buffer, header), out.data)
  return { buffer: out.buffer, dims: header.dims, affine: header.affine }
}

/** [lowest, highest] value of a display window {center, width}; null for none. */
export function windowBounds(window) {
  return window ? [window.center - window.width / 2, window.center + window.width / 2] : null
}

/**
 * Display range of stored voxel values with no window: their 2nd and 98th percentiles (NiiVue's
 * robust range) in real units (x slope + inter), from an even sample of at most 65,536 voxels,
 * so a slice whose first rows are background still gets the tissue's contrast.
 */
export function robustRange(values, slope = 1, inter = 0) {
  const step = Math.max(1, Math.floor(values.length / 65536))
  const sample = new Float64Array(Math.ceil(values.length / step))
  for (let i = 0, j = 0; i < values.length; i += step, j++) sample[j] = values[i]
  sample.sort()
  const at = (q) => sample[Math.min(sample.length - 1, Math.floor(q * (sample.length - 1)))]
  const [a, b] = [at(0.02), at(0.98)].map((v) => v * (slope || 1) + inter)
  return a === b ? [a, a + 1] : [Math.min(a, b), Math.max(a, b)]
}
