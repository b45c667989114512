import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DIFF, fillBox, fullBox, layerColors, layerFn } from '../src/composite.js'

const mask = (...on) => {
  const m = new Uint8Array(8)
  for (const i of on) m[i] = 1
  return m
}
const a = { id: 1, slot: 1, visible: true, mask: mask(0, 1, 2), color: '#ff0000', extent: [0, 0, 0, 2, 0, 0] }
const b = { id: 2, slot: 2, visible: true, mask: mask(2, 3), color: '#0000ff', extent: [2, 0, 0, 3, 0, 0] }
const values = (fn) => Array.from({ length: 8 }, (_, i) => fn(i))

test('submitted display: visible targets by slot, the active one on top', () => {
  assert.deepEqual(values(layerFn({ masksOn: true, targets: [a, b], active: 1 })), [1, 1, 1, 2, 0, 0, 0, 0])
  assert.deepEqual(values(layerFn({ masksOn: true, targets: [a, b], active: 2 })), [1, 1, 2, 2, 0, 0, 0, 0])
  assert.deepEqual(values(layerFn({ masksOn: true, targets: [a, { ...b, visible: false }], active: 2 })), [1, 1, 1, 0, 0, 0, 0, 0])
  assert.deepEqual(values(layerFn({ masksOn: false, targets: [a, b], active: 1 })), [0, 0, 0, 0, 0, 0, 0, 0])
})

test('review displays: the model mask, or the difference for the active target', () => {
  const t = { ...a, model: mask(1, 2, 5) }
  const model = layerFn({ masksOn: true, display: 'model', targets: [t, b], active: 1 })
  assert.deepEqual(values(model), [0, 1, 1, 0, 0, 1, 0, 0])
  const diff = layerFn({ masksOn: true, display: 'diff', targets: [t, b], active: 1 })
  assert.deepEqual(values(diff), [DIFF.ADDED, DIFF.SAME, DIFF.SAME, 0, 0, DIFF.REMOVED, 0, 0])
  assert.deepEqual(values(layerFn({ masksOn: true, display: 'diff', targets: [t], active: null })), Array(8).fill(0))
})

test('fillBox writes only inside the inclusive box', () => {
  const dims = [4, 3, 2]
  const comp = new Uint8Array(24)
  fillBox(comp, dims, [1, 1, 1, 2, 2, 1], (i) => i)
  const written = [...comp.keys()].filter((i) => comp[i])
  assert.deepEqual(written, [17, 18, 21, 22])
})

test('a full refresh covers every extent, model extents and the last full box', () => {
  assert.deepEqual(fullBox([a, b], null), [0, 0, 0, 3, 0, 0])
  assert.deepEqual(fullBox([{ ...a, model: mask(), modelExtent: [0, 0, 0, 1, 5, 0] }], [6, 0, 0, 7, 0, 1]), [0, 0, 0, 7, 5, 1])
  assert.equal(fullBox([{ extent: null }], null), null)
})

test('colours: each slot its label colour; "both" in the active target’s colour', () => {
  const c = layerColors([a, b], b)
  assert.deepEqual(c[1], [255, 0, 0, 255])
  assert.deepEqual(c[2], [0, 0, 255, 255])
  assert.deepEqual(c[DIFF.SAME], [0, 0, 255, 255])
  assert.deepEqual(layerColors([], null)[DIFF.SAME], [255, 200, 0, 255])
})
