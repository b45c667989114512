import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Grid } from '../src/grid.js'
import { formatMl, hull, measureTarget, nativeSlice, recist, rulerMm, volumeMl } from '../src/measure.js'

function ellipse(w, h, cx, cy, a, b, angle = 0) {
  const m = new Uint8Array(w * h)
  const [c, s] = [Math.cos(angle), Math.sin(angle)]
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const dx = x - cx, dy = y - cy
    const u = dx * c + dy * s, v = -dx * s + dy * c
    if ((u / a) ** 2 + (v / b) ** 2 <= 1) m[y * w + x] = 1
  }
  return m
}

test('volume in mL from voxels and spacing', () => {
  assert.equal(volumeMl(1000, [1, 1, 1]), 1)
  assert.ok(Math.abs(volumeMl(2500, [0.8, 0.8, 2.5]) - 4) < 1e-12)
})

test('ruler length through the affine', () => {
  const A = [[-0.8, 0, 0, 10], [0, 0.8, 0, 0], [0, 0, 2.5, -5], [0, 0, 0, 1]]
  assert.ok(Math.abs(rulerMm([0, 0, 0], [30, 40, 0], A) - 40) < 1e-9) // 24, 32 → 40 mm
  assert.ok(Math.abs(rulerMm([1, 1, 1], [1, 1, 5], A) - 10) < 1e-9)
})

test('hull of a square with inner points is its corners', () => {
  const pts = [[0, 0], [2, 0], [2, 2], [0, 2], [1, 1], [1, 0]]
  assert.deepEqual(hull(pts).map(String).sort(), ['0,0', '0,2', '2,0', '2,2'])
})

test('RECIST axes of an axis-aligned ellipse: 2a and 2b', () => {
  const m = ellipse(100, 80, 50, 40, 20, 10)
  const r = recist(m, 100, 80, [1, 1])
  assert.equal(r.longMm, 40)
  assert.equal(r.shortMm, 20)
  assert.deepEqual(r.longEnds.map((p) => p.map(Math.round)).sort(), [[30, 40], [70, 40]])
})

test('RECIST axes with anisotropic spacing are in mm', () => {
  // 20 × 10 mm half-axes with 0.5 mm x and 1 mm y pixels: a = 40 px, b = 10 px.
  const m = ellipse(120, 40, 60, 20, 40, 10)
  const r = recist(m, 120, 40, [0.5, 1])
  assert.ok(Math.abs(r.longMm - 40) < 0.5, r.longMm)
  assert.ok(Math.abs(r.shortMm - 20) < 1, r.shortMm)
})

test('RECIST axes of a rotated ellipse are within a voxel, and perpendicular', () => {
  const m = ellipse(128, 128, 64, 64, 30, 12, Math.PI / 6)
  const r = recist(m, 128, 128, [1, 1])
  assert.ok(Math.abs(r.longMm - 60) <= 1.5, r.longMm)
  assert.ok(Math.abs(r.shortMm - 24) <= 1.5, r.shortMm)
  const [a, b] = r.longEnds, [c, d] = r.shortEnds
  const cos = ((b[0] - a[0]) * (d[0] - c[0]) + (b[1] - a[1]) * (d[1] - c[1])) / (r.longMm * r.shortMm)
  assert.ok(Math.abs(cos) < 0.1, cos)
})

test('RECIST of an empty mask is null; one voxel is 0 mm', () => {
  assert.equal(recist(new Uint8Array(16), 4, 4, [1, 1]), null)
  const one = new Uint8Array(16)
  one[5] = 1
  assert.deepEqual([recist(one, 4, 4, [1, 1]).longMm, recist(one, 4, 4, [1, 1]).shortMm], [0, 0])
})

test('a native slice of a RAS mask is read in native order (flipped axes)', () => {
  // native x runs to the left (flip), y posterior (flip), z superior.
  const grid = new Grid([6, 5, 4], [[-1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 2, 0], [0, 0, 0, 1]])
  const mask = new Uint8Array(grid.size)
  const native = [1, 3, 2]
  const [x, y, z] = grid.toRasCoord(native)
  mask[grid.rasIndex(x, y, z)] = 1
  const slice = nativeSlice(mask, grid, 2)
  assert.equal(slice[3 * 6 + 1], 1)
  assert.equal(slice.reduce((s, v) => s + v, 0), 1)
  assert.equal(nativeSlice(mask, grid, 1), null)
})

test('measureTarget: volume from the count, axes on the key slice', () => {
  const grid = new Grid([40, 40, 3], [[0.5, 0, 0, 0], [0, 0.5, 0, 0], [0, 0, 2, 0], [0, 0, 0, 1]])
  const mask = new Uint8Array(grid.size)
  const disc = ellipse(40, 40, 20, 20, 10, 10)
  mask.set(disc, 40 * 40 * 1)
  const count = disc.reduce((s, v) => s + v, 0)
  const m = measureTarget(mask, count, grid, 1)
  assert.ok(Math.abs(m.volumeMl - (count * 0.5) / 1000) < 1e-12)
  assert.equal(m.longMm, 10)
  assert.equal(m.shortMm, 10)
  assert.equal(measureTarget(mask, count, grid, 0).longMm, null)
  assert.equal(formatMl(12.345), '12.35 mL')
})
