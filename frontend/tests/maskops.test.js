import assert from 'node:assert/strict'
import { test } from 'node:test'
import * as ops from '../src/maskops.js'

const dims = [20, 16, 6]
const empty = () => new Uint8Array(dims[0] * dims[1] * dims[2])

test('a brush stroke paints one slice only and reports what it flipped', () => {
  const m = empty()
  const out = new ops.IndexList()
  ops.stroke(m, dims, 0, [3, 8, 2], [15, 8, 2], [1.5, 1.5], 1, out)
  assert.ok(out.length > 20)
  assert.equal(ops.count(m), out.length)
  for (let z = 0; z < dims[2]; z++) assert.equal(ops.countSlice(m, dims, 2, z) > 0, z === 2)
  const box = ops.bboxOf(out.toArray(), dims)
  assert.deepEqual([box[2], box[5]], [2, 2])
  // erasing over it flips back; flipping the lists restores the original
  const erased = new ops.IndexList()
  ops.stroke(m, dims, 0, [3, 8, 2], [15, 8, 2], [1.5, 1.5], 0, erased)
  assert.equal(ops.count(m), 0)
  ops.flip(m, erased.toArray())
  assert.equal(ops.count(m), out.length)
})

test('painting on a coronal view stays on that coronal slice', () => {
  const m = empty()
  const out = new ops.IndexList()
  ops.dab(m, dims, 1, [10, 5, 3], [2, 2], 1, out)
  assert.ok(out.length > 0)
  for (const i of out.toArray()) assert.equal(Math.floor((i % (20 * 16)) / 20), 5)
})

test('fill fills a closed outline and refuses an open one', () => {
  const m = empty()
  const z = 1, at = (x, y) => x + 20 * (y + 16 * z)
  for (let x = 4; x <= 10; x++) m[at(x, 4)] = m[at(x, 10)] = 1
  for (let y = 4; y <= 10; y++) m[at(4, y)] = m[at(10, y)] = 1
  const filled = ops.fillEnclosed(m, dims, 0, [7, 7, z])
  assert.equal(filled.length, 25)
  assert.equal(ops.fillEnclosed(m, dims, 0, [1, 1, z]), null)
  assert.equal(ops.fillEnclosed(m, dims, 0, [7, 7, z]).length, 0) // already inside the mask
})

test('clear slice, diff and bounding boxes', () => {
  const a = empty()
  a[5] = a[20 * 16 * 3 + 7] = 1
  const b = a.slice()
  const cleared = ops.clearSlice(b, dims, 0, 3)
  assert.deepEqual(Array.from(cleared), [20 * 16 * 3 + 7])
  assert.deepEqual(Array.from(ops.diff(a, b)), [20 * 16 * 3 + 7])
  assert.deepEqual(ops.bboxOfMask(a, dims), [5, 0, 0, 7, 0, 3])
  assert.equal(ops.bboxOfMask(empty(), dims), null)
  assert.deepEqual(ops.unionBox(null, [1, 1, 1, 2, 2, 2]), [1, 1, 1, 2, 2, 2])
})
