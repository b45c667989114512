import assert from 'node:assert/strict'
import { test } from 'node:test'
import { FLAG_LABELS, MAX_SLICE_LINKS, flagRows, flagsEdited } from '../src/flagtext.js'

test('each flag gets its words, its first slices and a count of the rest', () => {
  const slices = Array.from({ length: MAX_SLICE_LINKS + 3 }, (_, i) => i + 10)
  const rows = flagRows([
    { code: 'border', slices, detail: 'touches the left edge' },
    { code: 'empty', slices: [], detail: 'the model’s mask is empty' },
  ])
  assert.equal(rows[0].label, FLAG_LABELS.border)
  assert.deepEqual(rows[0].slices, slices.slice(0, MAX_SLICE_LINKS))
  assert.equal(rows[0].more, 3)
  assert.equal(rows[0].unit, 'slice')
  assert.equal(rows[1].label, 'Empty mask')
  assert.equal(rows[1].more, 0)
})

test('clips speak of frames; no flags, no rows; unknown codes keep their code', () => {
  assert.equal(flagRows([{ code: 'area_jump', slices: [3] }], true)[0].unit, 'frame')
  assert.deepEqual(flagRows(undefined), [])
  assert.equal(flagRows([{ code: 'new_check' }])[0].label, 'new_check')
})

test('flags of an earlier model mask are marked once someone edited it', () => {
  assert.equal(flagsEdited({ head: 5, flagsRevision: 5 }), false)
  assert.equal(flagsEdited({ head: 6, flagsRevision: 5 }), true)
  assert.equal(flagsEdited({ head: 6, flagsRevision: null }), false)
})
