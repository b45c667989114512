import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { CT_PRESETS, initialWindow, presetsFor } from '../src/presets.js'

// The file inference/preprocess.py reads: the viewer must offer exactly its windows, in order.
const file = JSON.parse(readFileSync(new URL('../../inference/ct_windows.json', import.meta.url), 'utf8'))

test('the viewer offers the server’s CT windows, in the file’s order (Shift+1…5)', () => {
  assert.deepEqual(CT_PRESETS.map((p) => [p.key, p.center, p.width]), file.windows.map((w) => [w.key, w.center, w.width]))
  assert.deepEqual(CT_PRESETS.slice(0, 2).map((p) => p.name), ['CT abdomen', 'CT lung'])
  assert.equal(presetsFor('CT'), CT_PRESETS)
  assert.deepEqual(presetsFor('MR'), [])
})

test('a case opens at its own window, else the default CT window, else none', () => {
  assert.deepEqual(initialWindow({ modality: 'CT', window: { center: -500, width: 1200, extra: 1 } }), { center: -500, width: 1200 })
  const def = file.windows.find((w) => w.key === file.default)
  assert.deepEqual(initialWindow({ modality: 'CT' }), { center: def.center, width: def.width })
  assert.deepEqual(initialWindow({ modality: 'CT' }), { center: 40, width: 400 })
  assert.equal(initialWindow({ modality: 'MR' }), null)
  assert.equal(initialWindow(null), null)
})
