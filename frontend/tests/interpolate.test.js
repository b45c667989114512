import assert from 'node:assert/strict'
import { test } from 'node:test'
import { interpolateSlices, keyPair, noteSlice, signedDistance, squaredDistance } from '../src/interpolate.js'
import * as ops from '../src/maskops.js'

const dims = [64, 60, 24]
const empty = () => new Uint8Array(dims[0] * dims[1] * dims[2])
const at = (x, y, z) => x + dims[0] * (y + dims[1] * z)

function disc(m, z, cx, cy, r) {
  for (let y = 0; y < dims[1]; y++) for (let x = 0; x < dims[0]; x++) if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) m[at(x, y, z)] = 1
}

/** Equivalent radius of the shape on an axial slice: sqrt(area / π). */
const radiusOf = (m, z) => Math.sqrt(ops.countSlice(m, dims, 2, z) / Math.PI)

test('the 1D/2D distance transform is exact', () => {
  const w = 7, h = 5
  const one = new Uint8Array(w * h)
  one[2 * w + 3] = 1
  const d = squaredDistance(one, w, h)
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) assert.equal(d[y * w + x], (x - 3) ** 2 + (y - 2) ** 2)
  const corner = new Uint8Array(w * h)
  corner[0] = 1
  const aniso = squaredDistance(corner, w, h, 1, [2, 3])
  assert.equal(aniso[w * 2 + 3], (3 * 2) ** 2 + (2 * 3) ** 2)
  assert.ok(squaredDistance(new Uint8Array(9), 3, 3).every((v) => v >= 1e19)) // no feature: infinite
  // against brute force on a random image, both ways round
  const rnd = Uint8Array.from({ length: 13 * 11 }, (_, i) => ((i * 7919) % 13) < 2)
  for (const feature of [0, 1]) {
    const got = squaredDistance(rnd, 13, 11, feature, [1.5, 1])
    for (let p = 0; p < rnd.length; p++) {
      let best = 1e20
      for (let q = 0; q < rnd.length; q++) if (rnd[q] === feature) best = Math.min(best, (1.5 * ((p % 13) - (q % 13))) ** 2 + (Math.floor(p / 13) - Math.floor(q / 13)) ** 2)
      assert.ok(Math.abs(got[p] - best) < 1e-9, `pixel ${p}: ${got[p]} vs ${best}`)
    }
  }
})

test('signed distance: positive inside, negative outside, half a voxel at the boundary', () => {
  const w = 9, h = 9, bin = new Uint8Array(w * h)
  for (let y = 3; y <= 5; y++) for (let x = 3; x <= 5; x++) bin[y * w + x] = 1
  const d = signedDistance(bin, w, h)
  assert.equal(d[4 * w + 4], 1.5) // centre: two voxels to the outside, less a half
  assert.equal(d[3 * w + 3], 0.5)
  assert.equal(d[3 * w + 2], -0.5)
  assert.equal(d[4 * w + 0], -2.5)
  // a shape touching the grid's edge still has a boundary there
  const full = signedDistance(new Uint8Array(4).fill(1), 2, 2)
  assert.ok(full.every((v) => v === 0.5))
})

test('a disc growing linearly in radius: each slice between is the blended radius within a voxel', () => {
  const m = empty()
  disc(m, 4, 30, 30, 4)
  disc(m, 12, 30, 30, 12)
  const before = m.slice()
  const flipped = interpolateSlices(m, dims, 0, 4, 12)
  assert.ok(flipped.length > 0)
  for (let z = 5; z < 12; z++) {
    const expected = 4 + (z - 4)
    assert.ok(Math.abs(radiusOf(m, z) - expected) < 1, `slice ${z}: radius ${radiusOf(m, z)} vs ${expected}`)
  }
  // the middle slice is the mean radius disc (within a voxel), centred where the keys are
  const mid = empty()
  disc(mid, 8, 30, 30, 8)
  let differ = 0
  for (let y = 0; y < dims[1]; y++) for (let x = 0; x < dims[0]; x++) differ += m[at(x, y, 8)] !== mid[at(x, y, 8)]
  assert.ok(differ <= 2 * Math.PI * 8 * 0.5, `${differ} voxels differ from the radius-8 disc`)
  // only slices strictly between are written
  for (const z of [0, 1, 2, 3, 4, 12, 13, 20]) assert.equal(ops.countSlice(m, dims, 2, z), ops.countSlice(before, dims, 2, z))
  for (const i of flipped) {
    const z = Math.floor(i / (dims[0] * dims[1]))
    assert.ok(z > 4 && z < 12, `flipped voxel on slice ${z}`)
  }
  // flipping the list back is an undo
  ops.flip(m, flipped)
  assert.deepEqual(m, before)
})

test('identical key slices give identical slices between; order of the keys does not matter', () => {
  const m = empty()
  for (const z of [3, 9]) {
    disc(m, z, 20, 22, 6)
    for (let x = 26; x < 40; x++) m[at(x, 22, z)] = 1 // an odd shape: a disc with a tail
  }
  interpolateSlices(m, dims, 0, 9, 3)
  const key = m.subarray(at(0, 0, 3), at(0, 0, 4))
  for (let z = 4; z < 9; z++) assert.deepEqual(m.subarray(at(0, 0, z), at(0, 0, z + 1)), key, `slice ${z}`)
})

test('the slices between are replaced, not added to', () => {
  const m = empty()
  disc(m, 2, 30, 30, 5)
  disc(m, 6, 30, 30, 5)
  m[at(2, 2, 4)] = 1 // a stray voxel between the keys
  disc(m, 5, 50, 50, 3) // and a blob elsewhere
  interpolateSlices(m, dims, 0, 2, 6)
  assert.equal(m[at(2, 2, 4)], 0)
  assert.equal(m[at(50, 50, 5)], 0)
  assert.equal(ops.countSlice(m, dims, 2, 4), ops.countSlice(m, dims, 2, 2))
})

test('empty ↔ non-empty: the shape tapers to the centroid; two empty slices: nothing to do', () => {
  const m = empty()
  disc(m, 10, 32, 28, 9)
  interpolateSlices(m, dims, 0, 10, 19)
  const radii = [11, 12, 13, 14, 15, 16, 17, 18].map((z) => radiusOf(m, z))
  for (let i = 1; i < radii.length; i++) assert.ok(radii[i] <= radii[i - 1], `radii shrink: ${radii}`)
  assert.ok(Math.abs(radiusOf(m, 14) - 9 * (1 - 4 / 9)) < 1, `slice 14: ${radiusOf(m, 14)}`)
  assert.ok(ops.countSlice(m, dims, 2, 18) > 0 && ops.countSlice(m, dims, 2, 19) === 0)
  assert.equal(m[at(32, 28, 18)], 1) // the point it tapers to is the centroid
  assert.equal(interpolateSlices(empty(), dims, 0, 1, 8), null)
  assert.equal(interpolateSlices(m, dims, 0, 10, 11).length, 0) // no slice between
  assert.throws(() => interpolateSlices(m, dims, 0, 0, 40), RangeError)
})

test('coronal interpolation writes coronal slices; anisotropic spacing is honoured', () => {
  const m = empty()
  const sq = (y, half) => { for (let z = 12 - half; z <= 12 + half; z++) for (let x = 30 - half; x <= 30 + half; x++) m[at(x, y, z)] = 1 }
  sq(10, 2)
  sq(20, 6)
  const flipped = interpolateSlices(m, dims, 1, 10, 20, { spacing: [1, 2.5] })
  for (const i of flipped) {
    const y = Math.floor((i % (dims[0] * dims[1])) / dims[0])
    assert.ok(y > 10 && y < 20)
  }
  assert.ok(ops.countSlice(m, dims, 1, 15) > ops.countSlice(m, dims, 1, 10))
  assert.ok(ops.countSlice(m, dims, 1, 15) < ops.countSlice(m, dims, 1, 20))
})

test('the slices to interpolate between: the two last edited distinct ones', () => {
  let edited = []
  assert.equal(keyPair(edited), null)
  edited = noteSlice(edited, 30)
  edited = noteSlice(edited, 30)
  assert.equal(keyPair(edited), null)
  edited = noteSlice(edited, 10)
  assert.deepEqual(keyPair(edited), [10, 30])
  edited = noteSlice(edited, 50)
  assert.deepEqual(keyPair(edited), [10, 50])
  edited = noteSlice(edited, 30)
  assert.deepEqual(keyPair(edited), [30, 50])
})

test('twenty 512² slices interpolate fast', () => {
  const big = [512, 512, 24]
  const m = new Uint8Array(big[0] * big[1] * big[2])
  const put = (z, r) => { for (let y = 0; y < 512; y++) for (let x = 0; x < 512; x++) if ((x - 256) ** 2 + (y - 250) ** 2 <= r * r) m[x + 512 * (y + 512 * z)] = 1 }
  put(1, 40)
  put(22, 120)
  const whole = m.slice()
  const t0 = performance.now()
  const flipped = interpolateSlices(m, big, 0, 1, 22, { within: [100, 100, 400, 400] })
  const ms = performance.now() - t0
  // A box that holds the shapes gives the same result as scanning everything.
  assert.deepEqual(flipped, interpolateSlices(whole, big, 0, 1, 22))
  assert.deepEqual(m, whole)
  // A guard against a slow algorithm, generous for busy test machines (warm: about 40 ms)
  assert.ok(ms < 1000, `${ms.toFixed(0)} ms`)
})
