import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Grid, robustRange } from '../src/grid.js'

const LPS_LIKE = [[-0.8, 0, 0, 10], [0, -0.8, 0, 20], [0, 0, 2.5, -30], [0, 0, 0, 1]]

test('an ITK-style affine flips x and y and keeps z', () => {
  const g = new Grid([4, 3, 2], LPS_LIKE)
  assert.deepEqual(g.rasOf, [0, 1, 2])
  assert.deepEqual(g.flip, [true, true, false])
  assert.deepEqual(g.rasDims, [4, 3, 2])
  assert.deepEqual(g.toNativeCoord([0, 0, 1]), [3, 2, 1])
  assert.deepEqual(g.toRasCoord([3, 2, 1]), [0, 0, 1])
  assert.equal(g.keyView(), 0)
})

test('arrays round-trip between native and RAS order, permuted axes included', () => {
  const permuted = [[0, 0, 1.5, 0], [-1, 0, 0, 0], [0, 2, 0, 0], [0, 0, 0, 1]] // x→S, y→-R, z→A
  for (const affine of [LPS_LIKE, permuted, [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]]) {
    const g = new Grid([5, 4, 3], affine)
    const src = Int16Array.from({ length: g.size }, (_, i) => i)
    const ras = g.toRas(src)
    assert.deepEqual(Array.from(g.toNative(ras)), Array.from(src))
    // every RAS voxel holds the native voxel its coordinates map to
    for (let z = 0; z < g.rasDims[2]; z++) for (let y = 0; y < g.rasDims[1]; y++) for (let x = 0; x < g.rasDims[0]; x++) {
      const [a, b, c] = g.toNativeCoord([x, y, z])
      assert.equal(ras[g.rasIndex(x, y, z)], a + 5 * (b + 4 * c))
    }
  }
})

test('the RAS copy keeps every voxel at the same place in space', () => {
  const g = new Grid([5, 4, 3], LPS_LIKE)
  const A = g.affine, B = g.rasAffine()
  const world = (M, v) => [0, 1, 2].map((r) => M[r][0] * v[0] + M[r][1] * v[1] + M[r][2] * v[2] + M[r][3])
  for (const ras of [[0, 0, 0], [4, 3, 2], [1, 2, 1]]) {
    assert.deepEqual(world(B, ras).map((v) => +v.toFixed(6)), world(A, g.toNativeCoord(ras)).map((v) => +v.toFixed(6)))
  }
  assert.ok(B[0][0] > 0 && B[1][1] > 0 && B[2][2] > 0)
})

test('robustRange takes the 2nd-98th percentiles of the whole slice, in real units', () => {
  // 64x64 slice: the first 16 rows are background (0), the rest tissue 100..199
  const values = new Int16Array(64 * 64)
  for (let i = 16 * 64; i < values.length; i++) values[i] = 100 + (i % 100)
  const [lo, hi] = robustRange(values)
  assert.ok(lo === 0 && hi >= 195 && hi <= 199, `${lo}..${hi}`)
  const [lo2, hi2] = robustRange(values, 2, -10)
  assert.equal(lo2, -10)
  assert.equal(hi2, hi * 2 - 10)
  // mostly tissue: the range is the tissue's, not the background's
  const tissue = new Float32Array(100000).map((_, i) => (i < 500 ? -1000 : 40 + (i % 50)))
  const [tlo, thi] = robustRange(tissue)
  assert.ok(tlo >= 40 && thi <= 89, `${tlo}..${thi}`)
})

test('robustRange of a flat slice is a non-empty range', () => {
  assert.deepEqual(robustRange(new Uint8Array(100).fill(7)), [7, 8])
})
