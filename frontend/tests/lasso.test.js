import assert from 'node:assert/strict'
import { test } from 'node:test'
import { fillPolygon, inPlane, isDrag } from '../src/lasso.js'
import * as ops from '../src/maskops.js'

const dims = [20, 16, 6]
const empty = () => new Uint8Array(dims[0] * dims[1] * dims[2])
const at = (x, y, z) => x + dims[0] * (y + dims[1] * z)

test('a square polygon fills the voxels whose centres are inside, on its slice only', () => {
  const m = empty()
  const flipped = fillPolygon(m, dims, 0, 2, [[2.5, 3.5], [8.5, 3.5], [8.5, 7.5], [2.5, 7.5]])
  assert.equal(flipped.length, 6 * 4) // x 3..8, y 4..7
  assert.equal(ops.count(m), 24)
  for (let x = 3; x <= 8; x++) for (let y = 4; y <= 7; y++) assert.equal(m[at(x, y, 2)], 1)
  assert.equal(ops.countSlice(m, dims, 2, 2), 24)
  // filling again changes nothing; erasing the same polygon flips them back
  assert.equal(fillPolygon(m, dims, 0, 2, [[2.5, 3.5], [8.5, 3.5], [8.5, 7.5], [2.5, 7.5]]).length, 0)
  assert.equal(fillPolygon(m, dims, 0, 2, [[2.5, 3.5], [8.5, 3.5], [8.5, 7.5], [2.5, 7.5]], 0).length, 24)
  assert.equal(ops.count(m), 0)
})

test('a triangle: point in polygon by voxel centre; the direction of drawing does not matter', () => {
  const tri = [[1, 1], [15, 1], [1, 15]]
  const a = empty(), b = empty()
  fillPolygon(a, dims, 0, 0, tri)
  fillPolygon(b, dims, 0, 0, [...tri].reverse())
  assert.deepEqual(a, b)
  for (let y = 0; y < 16; y++) {
    for (let x = 0; x < 20; x++) {
      const inside = x > 1 && y > 1 && x + y < 16
      if (inside) assert.equal(a[at(x, y, 0)], 1, `${x},${y}`)
      if (x + y > 16 || x < 1 || y < 1) assert.equal(a[at(x, y, 0)], 0, `${x},${y}`)
    }
  }
})

test('a concave outline leaves its notch empty; a self-crossing lasso fills both loops', () => {
  const m = empty()
  // a U shape: the notch x 6..9, y 0..8 stays empty
  fillPolygon(m, dims, 0, 1, [[2, 2], [5.5, 2], [5.5, 9.5], [9.5, 9.5], [9.5, 2], [13, 2], [13, 13], [2, 13]])
  assert.equal(m[at(7, 5, 1)], 0)
  assert.equal(m[at(7, 11, 1)], 1)
  assert.equal(m[at(3, 5, 1)], 1)
  const eight = empty()
  fillPolygon(eight, dims, 0, 1, [[2, 2], [14, 14], [14, 2], [2, 14]]) // a bow tie: two loops, opposite turns
  assert.equal(eight[at(3, 8, 1)], 1)
  assert.equal(eight[at(13, 8, 1)], 1)
})

test('polygons on coronal and sagittal views, clipped to the image', () => {
  const m = empty()
  const flipped = fillPolygon(m, dims, 1, 5, [[-3, -3], [30, -3], [30, 30], [-3, 30]])
  assert.equal(flipped.length, dims[0] * dims[2]) // a whole coronal slice
  for (const i of flipped) assert.equal(Math.floor((i % (dims[0] * dims[1])) / dims[0]), 5)
  const s = empty()
  fillPolygon(s, dims, 2, 4, inPlane(2, [[4, 2, 1], [4, 9, 1], [4, 9, 4], [4, 2, 4]]))
  assert.equal(ops.countSlice(s, dims, 0, 4), ops.count(s))
  assert.equal(ops.count(s), 8 * 3) // edges through voxel centres: half-open (bottom row in, top out)
  assert.equal(fillPolygon(empty(), dims, 0, 0, [[1, 1], [5, 5]]).length, 0) // not a polygon
})

test('a drag is a lasso, a click a polygon corner', () => {
  assert.equal(isDrag([[10, 10]]), false)
  assert.equal(isDrag([[10, 10], [11, 10], [11, 11]]), false)
  assert.equal(isDrag([[10, 10], [14, 10], [20, 16]]), true)
})
