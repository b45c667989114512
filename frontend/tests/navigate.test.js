import assert from 'node:assert/strict'
import { test } from 'node:test'
import { FIT, ZOOM_MAX, ZOOM_MIN, panTo, wheelNotches, zoomAt, zoomBy } from '../src/navigate.js'

// NiiVue's mapping of a world coordinate to the screen, per axis (see navigate.js).
const screen = (m, pan, a, mn = -100, k = 3) => (m * pan[3] + pan[a] - mn) * k

test('zooming keeps the world point under the cursor where it is on screen', () => {
  let pan = [4, -7, 2, 1.5]
  const mm = [12.5, -40, 33]
  for (const zoom of [2, 3.7, 0.8, 16]) {
    const before = [0, 1, 2].map((a) => screen(mm[a], pan, a))
    pan = zoomAt(pan, zoom, mm)
    assert.equal(pan[3], zoom)
    const after = [0, 1, 2].map((a) => screen(mm[a], pan, a))
    for (let a = 0; a < 3; a++) assert.ok(Math.abs(after[a] - before[a]) < 1e-9, `axis ${a}`)
  }
})

test('a point other than the cursor moves away from it by the zoom ratio', () => {
  const pan = [0, 0, 0, 1]
  const next = zoomAt(pan, 2, [10, 10, 10])
  const d0 = screen(20, pan, 0) - screen(10, pan, 0)
  const d1 = screen(20, next, 0) - screen(10, next, 0)
  assert.equal(d1, 2 * d0)
})

test('a drag brings the anchor under the cursor', () => {
  const pan = [3, 1, 0, 2.5]
  const anchor = [10, 20, 5]
  const under = [14, 11, 5] // what is under the cursor at the current pan
  const next = panTo(pan, anchor, under)
  for (let a = 0; a < 3; a++) assert.ok(Math.abs(screen(anchor[a], next, a) - screen(under[a], pan, a)) < 1e-9)
  assert.equal(next[3], 2.5)
})

test('zoom steps are clamped; fit is no pan at zoom 1; wheel notches', () => {
  assert.equal(zoomBy(1, 1), 1.25)
  assert.equal(zoomBy(1, -1), 0.8)
  assert.equal(zoomBy(ZOOM_MAX, 3), ZOOM_MAX)
  assert.equal(zoomBy(ZOOM_MIN, -3), ZOOM_MIN)
  assert.deepEqual([...FIT], [0, 0, 0, 1])
  assert.equal(wheelNotches(-100), 1)
  assert.equal(wheelNotches(53), -0.53)
  assert.equal(wheelNotches(-3, 1), 0.99)
  assert.equal(wheelNotches(-10000), 4)
})
