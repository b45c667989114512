import assert from 'node:assert/strict'
import { test } from 'node:test'
import { readoutText, valueAt, worldOf } from '../src/readout.js'

test('the value at a voxel is stored × slope + intercept; null outside', () => {
  const values = Int16Array.from({ length: 2 * 3 * 4 }, (_, i) => i)
  assert.equal(valueAt(values, [2, 3, 4], [1, 2, 3]), 1 + 2 * 2 + 6 * 3)
  assert.equal(valueAt(values, [2, 3, 4], [1, 2, 3], 2, -1024), 2 * 23 - 1024)
  assert.equal(valueAt(values, [2, 3, 4], [0.6, 0.2, 0]), 1)
  assert.equal(valueAt(values, [2, 3, 4], [2, 0, 0]), null)
})

test('world position and the HUD text', () => {
  const A = [[-0.8, 0, 0, 10], [0, 0.8, 0, -20], [0, 0, 2.5, 0], [0, 0, 0, 1]]
  assert.deepEqual(worldOf(A, [10, 10, 2]), [2, -12, 5])
  assert.equal(readoutText({ value: -5, modality: 'CT', native: [10, 10, 2], mm: [2, -12, 5] }), 'HU -5 · voxel (10, 10, 2) · (2.0, −12.0, 5.0) mm')
  assert.equal(readoutText({ value: 12.3456, modality: 'MR', native: [1, 2, 3], mm: [0, 0, 0] }), 'value 12.35 · voxel (1, 2, 3) · (0.0, 0.0, 0.0) mm')
})
