import assert from 'node:assert/strict'
import { test } from 'node:test'
import * as ops from '../src/maskops.js'
import { gateFor, parseRange, rangeFromWindow, unitFor } from '../src/threshold.js'

const dims = [20, 16, 4]
const n = dims[0] * dims[1] * dims[2]

test('a range is two numbers, low first', () => {
  assert.deepEqual(parseRange('-100', '200'), [-100, 200])
  assert.deepEqual(parseRange(300, -50), [-50, 300])
  assert.equal(parseRange('', 3), null)
  assert.equal(parseRange('a', 3), null)
  assert.deepEqual(rangeFromWindow({ center: 40, width: 400 }), [-160, 240])
  assert.equal(unitFor('CT'), 'HU')
  assert.equal(unitFor('MR'), '')
})

test('the gate compares calibrated intensities (slope and intercept) inclusively', () => {
  const stored = Int16Array.from([0, 1000, 1040, 1100, 1240, 1241])
  const gate = gateFor({ on: true, lo: 16, hi: 240 }, stored, 1, -1000) // HU = stored − 1000
  assert.deepEqual([...stored.keys()].map(gate), [false, false, true, true, true, false])
  const scaled = gateFor({ on: true, lo: 10, hi: 20 }, Float32Array.from([4, 5, 10, 11]), 2, 0)
  assert.deepEqual([0, 1, 2, 3].map(scaled), [false, true, true, false])
  const negative = gateFor({ on: true, lo: -20, hi: -10 }, Float32Array.from([4, 5, 10, 11]), -2, 0)
  assert.deepEqual([0, 1, 2, 3].map(negative), [false, true, true, false])
  assert.equal(gateFor({ on: false, lo: 0, hi: 1 }, stored), null)
  assert.equal(gateFor({ on: true, lo: '', hi: 1 }, stored), null)
})

test('threshold paint leaves voxels outside the range untouched', () => {
  // intensity: a bright square (200) in a dark background (0), with a stripe of 100
  const values = new Int16Array(n)
  const at = (x, y, z) => x + dims[0] * (y + dims[1] * z)
  for (let y = 4; y < 12; y++) for (let x = 4; x < 12; x++) values[at(x, y, 1)] = 200
  for (let y = 0; y < 16; y++) values[at(14, y, 1)] = 100
  const mask = new Uint8Array(n)
  mask[at(1, 8, 1)] = 1 // already painted, outside the range: stays painted
  const before = mask.slice()
  const gate = gateFor({ on: true, lo: 150, hi: 250 }, values)
  const out = new ops.IndexList()
  ops.stroke(mask, dims, 0, [0, 8, 1], [19, 8, 1], [6, 6], 1, out, gate)
  assert.ok(out.length > 0)
  for (let i = 0; i < n; i++) {
    if (values[i] < 150 || values[i] > 250) assert.equal(mask[i], before[i], `voxel ${i} (value ${values[i]}) changed`)
  }
  assert.equal(ops.count(mask), 64 + 1) // the whole bright square and nothing else
  for (const i of out.toArray()) assert.equal(values[i], 200)
  // without a gate the same stroke paints the background too
  const free = new Uint8Array(n)
  ops.stroke(free, dims, 0, [0, 8, 1], [19, 8, 1], [6, 6], 1, new ops.IndexList())
  assert.ok(ops.count(free) > 100)
})
