import assert from 'node:assert/strict'
import { test } from 'node:test'
import { History } from '../src/history.js'
import { ActivityTracker } from '../src/activity.js'

const entry = (target, n, start = 0) => ({ target, indices: Uint32Array.from({ length: n }, (_, i) => start + i) })

test('undo and redo go far deeper than 8 steps', () => {
  const h = new History()
  for (let i = 0; i < 50; i++) h.push(entry(1, 3, i * 3))
  let undone = 0
  while (h.undo()) undone++
  assert.equal(undone, 50)
  assert.ok(h.canRedo && !h.canUndo)
  assert.equal(h.redo().indices[0], 0)
})

test('a new edit drops the redo branch; empty edits are ignored', () => {
  const h = new History()
  h.push(entry(1, 2))
  h.push(entry(1, 2, 2))
  h.undo()
  assert.equal(h.push(entry(1, 0)), false)
  assert.ok(h.canRedo)
  h.push(entry(1, 1, 9))
  assert.ok(!h.canRedo)
  assert.equal(h.depth, 2)
})

test('memory bound drops the oldest entries; dropTarget forgets one target', () => {
  const h = new History({ maxVoxels: 10 })
  for (let i = 0; i < 5; i++) h.push(entry(i % 2, 4))
  assert.ok(h.voxels <= 10 && h.depth === 2)
  h.dropTarget(0)
  assert.ok(h.undoStack.every((e) => e.target !== 0))
})

test('active time counts gaps between interactions, not idle time', () => {
  let now = 0
  const a = new ActivityTracker({ idleSeconds: 30, now: () => now })
  a.touch(1)
  now = 10; a.touch(1)
  now = 15; a.touch(2) // the 5 s before this belong to target 1
  now = 500; a.touch(2) // away for 485 s: not counted
  now = 502; a.touch(2)
  assert.equal(a.peek(1), 15)
  assert.equal(a.peek(2), 2)
  a.consume(1, 10)
  assert.equal(a.peek(1), 5)
})
