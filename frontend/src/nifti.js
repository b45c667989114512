// NIfTI-1 reading and writing, just what the viewer needs: parse a header, view the voxels,
// and write a header for the RAS-ordered copy of an image that NiiVue displays.

export const DT = { UINT8: 2, INT16: 4, INT32: 8, FLOAT32: 16, FLOAT64: 64, INT8: 256, UINT16: 512, UINT32: 768 }
const ARRAYS = {
  [DT.UINT8]: Uint8Array, [DT.INT16]: Int16Array, [DT.INT32]: Int32Array, [DT.FLOAT32]: Float32Array,
  [DT.FLOAT64]: Float64Array, [DT.INT8]: Int8Array, [DT.UINT16]: Uint16Array, [DT.UINT32]: Uint32Array,
}
export const HEADER_BYTES = 352 // 348-byte header + 4-byte extension flag

/** Read a whole response body, gunzipping it in the browser's own decoder while it downloads. */
export async function readBody(response, { gzip = true } = {}) {
  if (!gzip || !response.body || typeof DecompressionStream === 'undefined') {
    const raw = new Uint8Array(await response.arrayBuffer())
    return raw[0] === 0x1f && raw[1] === 0x8b ? gunzip(raw) : raw.buffer
  }
  return new Response(response.body.pipeThrough(new DecompressionStream('gzip'))).arrayBuffer()
}

export async function gunzip(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'))
  return new Response(stream).arrayBuffer()
}

export async function gzip(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream('gzip'))
  return new Response(stream).blob()
}

/** Parse a NIfTI-1 header. The affine is 4×4 row-major, voxel → RAS mm (sform, else qform). */
export function parseHeader(buffer) {
  const view = new DataView(buffer)
  let le = true
  if (view.getInt32(0, true) !== 348) {
    if (view.getInt32(0, false) !== 348) throw new Error('not a NIfTI-1 file')
    le = false
  }
  const i16 = (o) => view.getInt16(o, le)
  const f32 = (o) => view.getFloat32(o, le)
  const ndim = i16(40)
  const dims = [i16(42), ndim >= 2 ? i16(44) : 1, ndim >= 3 ? i16(46) : 1]
  const datatype = i16(70)
  const pixdim = [f32(76), f32(80), f32(84), f32(88)]
  const voxOffset = Math.max(HEADER_BYTES, Math.round(f32(108)))
  let slope = f32(112)
  const inter = f32(116)
  if (!Number.isFinite(slope) || slope === 0) slope = 1
  const qformCode = i16(252)
  const sformCode = i16(254)
  let affine
  if (sformCode > 0) {
    affine = [0, 1, 2].map((r) => [0, 1, 2, 3].map((c) => f32(280 + r * 16 + c * 4)))
    affine.push([0, 0, 0, 1])
  } else if (qformCode > 0) {
    affine = quaternAffine(f32(256), f32(260), f32(264), f32(268), f32(272), f32(276), pixdim)
  } else {
    affine = [[pixdim[1] || 1, 0, 0, 0], [0, pixdim[2] || 1, 0, 0], [0, 0, pixdim[3] || 1, 0], [0, 0, 0, 1]]
  }
  if (!ARRAYS[datatype]) throw new Error(`unsupported NIfTI datatype ${datatype}`)
  return { dims, datatype, voxOffset, slope, inter: Number.isFinite(inter) ? inter : 0, affine, littleEndian: le, pixdim }
}

function quaternAffine(b, c, d, qx, qy, qz, pixdim) {
  let a = 1 - (b * b + c * c + d * d)
  a = a < 1e-7 ? 0 : Math.sqrt(a)
  const qfac = pixdim[0] < 0 ? -1 : 1
  const [dx, dy, dz] = [pixdim[1] || 1, pixdim[2] || 1, (pixdim[3] || 1) * qfac]
  const R = [
    [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
    [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
    [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
  ]
  return [
    [R[0][0] * dx, R[0][1] * dy, R[0][2] * dz, qx],
    [R[1][0] * dx, R[1][1] * dy, R[1][2] * dz, qy],
    [R[2][0] * dx, R[2][1] * dy, R[2][2] * dz, qz],
    [0, 0, 0, 1],
  ]
}

/** A typed array over the voxels of a parsed NIfTI buffer (copied when misaligned). */
export function voxels(buffer, header) {
  const Ctor = ARRAYS[header.datatype]
  const n = header.dims[0] * header.dims[1] * header.dims[2]
  if (!header.littleEndian && Ctor.BYTES_PER_ELEMENT > 1) throw new Error('big-endian NIfTI voxels are not supported')
  if (header.voxOffset % Ctor.BYTES_PER_ELEMENT === 0) return new Ctor(buffer, header.voxOffset, n)
  return new Ctor(buffer.slice(header.voxOffset, header.voxOffset + n * Ctor.BYTES_PER_ELEMENT))
}

export function arrayType(datatype) {
  return ARRAYS[datatype]
}

/**
 * Allocate a NIfTI-1 file (header + room for voxels) for an image of `dims` with `affine`;
 * returns the buffer and a typed array over its voxels, to be filled by the caller.
 */
export function allocate({ dims, datatype, affine, slope = 1, inter = 0, calMin = 0, calMax = 0 }) {
  const Ctor = ARRAYS[datatype]
  const n = dims[0] * dims[1] * dims[2]
  const buffer = new ArrayBuffer(HEADER_BYTES + n * Ctor.BYTES_PER_ELEMENT)
  const v = new DataView(buffer)
  v.setInt32(0, 348, true)
  const dim = [3, dims[0], dims[1], dims[2], 1, 1, 1, 1]
  dim.forEach((d, i) => v.setInt16(40 + 2 * i, d, true))
  v.setInt16(70, datatype, true)
  v.setInt16(72, Ctor.BYTES_PER_ELEMENT * 8, true)
  const spacing = [0, 1, 2].map((c) => Math.hypot(affine[0][c], affine[1][c], affine[2][c]) || 1)
  ;[1, spacing[0], spacing[1], spacing[2], 1, 1, 1, 1].forEach((p, i) => v.setFloat32(76 + 4 * i, p, true))
  v.setFloat32(108, HEADER_BYTES, true)
  v.setFloat32(112, slope, true)
  v.setFloat32(116, inter, true)
  v.setFloat32(124, calMax, true)
  v.setFloat32(128, calMin, true)
  v.setUint8(123, 2 | 8) // mm, seconds
  v.setInt16(252, 0, true) // qform_code: unknown
  v.setInt16(254, 2, true) // sform_code: aligned
  for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) v.setFloat32(280 + r * 16 + c * 4, affine[r][c], true)
  ;[0x6e, 0x2b, 0x31, 0].forEach((b, i) => v.setUint8(344 + i, b)) // "n+1\0"
  return { buffer, data: new Ctor(buffer, HEADER_BYTES, n) }
}
