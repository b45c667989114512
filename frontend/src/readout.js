// The value under the cursor: the image's intensity (HU for CT) at a voxel, with the voxel in
// the stored order and the world position. Pure functions.

/** The real value (stored × slope + intercept) at integer RAS voxel `vox` of a RAS-ordered
 * array with `dims`; null outside. */
export function valueAt(values, dims, vox, slope = 1, inter = 0) {
  const [x, y, z] = vox.map(Math.round)
  if (x < 0 || y < 0 || z < 0 || x >= dims[0] || y >= dims[1] || z >= dims[2]) return null
  const v = values[x + dims[0] * (y + dims[1] * z)]
  return v * (slope || 1) + inter
}

/** World (mm) position of a voxel through a 4×4 affine. */
export function worldOf(affine, vox) {
  return [0, 1, 2].map((r) => affine[r][0] * vox[0] + affine[r][1] * vox[1] + affine[r][2] * vox[2] + affine[r][3])
}

const fmt = (v) => (Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(4))

/** The HUD line: 'HU 42 · voxel (120, 88, 40) · (12.5, −30.0, 100.0) mm'. */
export function readoutText({ value, modality, native, mm }) {
  const unit = modality === 'CT' ? 'HU' : 'value'
  const v = value == null ? '—' : fmt(value)
  const n = native.map((c) => Math.round(c)).join(', ')
  const w = mm.map((c) => c.toFixed(1).replace('-', '−')).join(', ')
  return `${unit} ${v} · voxel (${n}) · (${w}) mm`
}

/** The preset whose window is the one shown (to half a unit), or null: the preset menu shows it. */
export function presetInUse(presets, window) {
  return presets.find((p) => Math.abs(p.center - window.center) < 0.5 && Math.abs(p.width - window.width) < 0.5) ?? null
}
