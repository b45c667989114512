import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SaveState } from '../src/saver.js'
import * as s from '../src/state.js'

const target = (over = {}) => ({ ...s.makeTarget({ id: 1, label: 'lesion', key_index: 4, head: 10, head_voxel_count: 5 }, 0), ...over })

test('a target from the API: slot from its index, default colour, in step with its head', () => {
  const t = s.makeTarget({ id: 9, label: 'liver', key_index: 2, head: null }, 2)
  assert.equal(t.slot, 3)
  assert.equal(t.color, '#ff4040')
  assert.equal(t.count, 0)
  assert.ok(!s.isDirty(t))
  assert.equal(s.targetSaveLabel(t), 'no mask')
  assert.equal(s.targetSaveLabel(target()), 'saved')
  assert.equal(s.targetSaveLabel(target({ version: 1 })), 'unsaved')
  assert.equal(s.targetSaveLabel(target({ saveState: SaveState.RETRYING })), 'retrying')
})

test('who may edit: annotators only, a target chosen, no model at work, no open conflict', () => {
  assert.equal(s.editBlocker('review', target()), null)
  assert.match(s.editBlocker('annotate', null), /Choose a target/)
  assert.match(s.editBlocker('annotate', target({ job: { status: 'running' } })), /model is working/)
  assert.equal(s.editBlocker('annotate', target({ job: { status: 'done' } })), '')
  assert.match(s.editBlocker('annotate', target({ saveState: SaveState.CONFLICT })), /conflict/)
  assert.ok(s.toolAllowed('review', 'navigate') && s.toolAllowed('review', 'wl'))
  assert.ok(!s.toolAllowed('view', 'brush') && !s.toolAllowed('review', 'box'))
  assert.ok(s.toolAllowed('annotate', 'fill'))
})

test('brush steps: one below 10, two from 10, within 1..80; opacity within 0..1', () => {
  assert.equal(s.brushStep(6, 1), 7)
  assert.equal(s.brushStep(10, 1), 12)
  assert.equal(s.brushStep(10, -1), 9)
  assert.equal(s.brushStep(12, -1), 10)
  assert.equal(s.brushStep(1, -1), 1)
  assert.equal(s.brushStep(80, 1), 80)
  assert.equal(s.clampBrush(3.6), 4)
  assert.equal(s.clampOpacity(1.05), 1)
  assert.equal(s.clampOpacity(-0.1), 0)
})

test('cycling targets wraps both ways and starts from the first without an active one', () => {
  const ts = [{ id: 4 }, { id: 5 }, { id: 6 }]
  assert.equal(s.cycleTarget(ts, 6, 1), 4)
  assert.equal(s.cycleTarget(ts, 4, -1), 6)
  assert.equal(s.cycleTarget(ts, null, 1), 4)
  assert.equal(s.cycleTarget([], null, 1), null)
})

test('labels: the project’s, else those in use, else lesion', () => {
  assert.deepEqual(s.labelsFor(['liver', 'kidney'], []), ['liver', 'kidney'])
  assert.deepEqual(s.labelsFor([], [{ label: 'lv' }, { label: 'lv' }, { label: 'la' }]), ['lv', 'la'])
  assert.deepEqual(s.labelsFor(undefined, []), ['lesion'])
})

test('the status bar shows the worst save state first', () => {
  const idle = target()
  assert.deepEqual(s.saveStatus('annotate', [idle]), { text: 'All changes saved', cls: 'ok' })
  assert.equal(s.saveStatus('annotate', [idle, target({ version: 2 })]).cls, 'dirty')
  assert.equal(s.saveStatus('annotate', [target({ saveState: SaveState.SAVING }), target({ version: 2 })]).cls, 'busy')
  const retry = s.saveStatus('annotate', [target({ saveState: SaveState.RETRYING, attempts: 3 })])
  assert.deepEqual(retry, { text: 'Server unreachable; retrying the save (attempt 3)…', cls: 'warn' })
  const failed = target({ saveState: SaveState.FAILED, saveError: 'case is submitted' })
  assert.equal(s.saveStatus('annotate', [retry, failed, target({ saveState: SaveState.RETRYING })]).text, 'Save failed: case is submitted')
  assert.equal(s.saveStatus('annotate', [failed, target({ saveState: SaveState.CONFLICT })]).cls, 'error')
  assert.match(s.saveStatus('annotate', [failed, target({ saveState: SaveState.CONFLICT })]).text, /conflict/)
  assert.equal(s.saveStatus('review', [failed]).text, 'Review mode')
  assert.equal(s.saveStatus('view', []).text, 'Read only')
  assert.ok(s.hasUnsaved([idle], true) && s.hasUnsaved([failed], false) && !s.hasUnsaved([idle], false))
})

test('progress: a newer result loads once; an older job or an older result never replaces work', () => {
  const m = (o) => ({ job: 5, status: 'done', done: 8, total: 8, message: '', revision: 12, ...o })
  const first = s.progressStep(null, 10, m())
  assert.equal(first.load, 12)
  assert.equal(first.job.applied, 12)
  assert.equal(s.progressStep(first.job, 12, m()).load, null) // the same message again
  assert.equal(s.progressStep({ id: 6, status: 'running' }, 10, m()), null) // a late message
  assert.equal(s.progressStep(null, 14, m()).load, null) // the head is newer than the result
  const failed = s.progressStep({ id: 5, status: 'running' }, 10, m({ status: 'failed', revision: null }))
  assert.ok(failed.failed)
  assert.ok(!s.progressStep(failed.job, 10, m({ status: 'failed', revision: null })).failed) // said once
  const running = s.progressStep(null, null, m({ status: 'running', done: 2, revision: null }))
  assert.deepEqual(running, { job: { id: 5, status: 'running', done: 2, total: 8, message: '' }, load: null, failed: false })
})

test('a job from the API reads as the socket’s message', () => {
  const job = { id: 3, target: 8, case: 2, status: 'done', done: 1, total: 1, message: 'ok', result: 44 }
  assert.deepEqual(s.jobMessage(job), { type: 'job', job: 3, target: 8, case: 2, status: 'done', done: 1, total: 1, message: 'ok', revision: 44 })
  assert.equal(s.jobMessage(job, 9).target, 9)
})

test('box prompts: corners in any order, x1/y1 exclusive, clipped; too small is refused', () => {
  assert.deepEqual(s.boxFromCorners([10.4, 20, 3.2], [4, 8.6, 3.2], [64, 64, 8]), { index: 3, box: [4, 9, 11, 21] })
  assert.deepEqual(s.boxFromCorners([-3, -2, 0], [70, 5, 0], [64, 64, 8]).box, [0, 0, 64, 6])
  assert.equal(s.boxFromCorners([4, 4, 0], [4.2, 30, 0], [64, 64, 8]), null)
})

test('points: rounded to 0.1 voxel, kept per slice, sent as triples', () => {
  const p = s.pointAt([3.14159, 7.77, 4.6], true)
  assert.deepEqual(p, { index: 5, x: 3.1, y: 7.8, positive: true })
  const pts = [p, s.pointAt([1, 2, 2], false), s.pointAt([9, 9, 5], false)]
  assert.deepEqual(s.pointsOn(pts, 5), [[3.1, 7.8, 1], [9, 9, 0]])
  assert.deepEqual(s.targetPoints([[3.1, 7.8, 1]], 5), [{ x: 3.1, y: 7.8, z: 5, positive: true }])
})

test('window drag: right widens, up raises the level, in steps of width/300', () => {
  assert.deepEqual(s.dragWindow({ center: 40, width: 300 }, 30, -10), { center: 50, width: 330 })
  assert.deepEqual(s.dragWindow({ center: 0, width: 0.5 }, 300, 0), { center: 0, width: 1.5 }) // at least 1 per 300 px
})

test('frames wrap around the clip', () => {
  assert.equal(s.wrapFrame(12, 12), 0)
  assert.equal(s.wrapFrame(-1, 12), 11)
  assert.equal(s.wrapFrame(5, 12), 5)
})

test('a target’s key view: its key slice, at its box centre when it has one, else where it was', () => {
  const from = [10, 20, 30]
  assert.deepEqual(s.keyNative(target(), from), [10, 20, 4])
  assert.deepEqual(s.keyNative(target({ box: [2, 4, 7, 10] }), from), [4.5, 7, 4])
  assert.deepEqual(from, [10, 20, 30]) // not changed
  // Opening a case: from the volume's centre.
  assert.deepEqual(s.keyNative(target({ keyIndex: 0 }), [32, 32, 12]), [32, 32, 0])
})

test('managing targets: rev n of the target, names and labels from the API, slots never shared', () => {
  const t = s.makeTarget({ id: 7, label: 'lesion', display_name: 'lesion #2', key_index: 1, head: 91, head_number: 3 }, 0)
  assert.equal(s.revLabel(t), 'rev 3') // not the revision's id (91)
  assert.equal(s.revLabel({ ...t, headNumber: null }), 'rev …')
  assert.equal(s.revLabel({ ...t, head: null }), 'no mask yet')
  assert.equal(t.displayName, 'lesion #2')
  s.applyTargetFields(t, { label: 'cyst', name: 'segment VII', display_name: 'segment VII', note: 'faint', color: '#00ff00' })
  assert.deepEqual([t.label, t.name, t.displayName, t.note, t.color], ['cyst', 'segment VII', 'segment VII', 'faint', '#00ff00'])
  // after slots 1 and 3 remain (2 deleted), a new target takes 4, not 3
  const left = [s.makeTarget({ id: 1, label: 'a' }, 0), s.makeTarget({ id: 3, label: 'a' }, 2)]
  assert.equal(s.makeTarget({ id: 4, label: 'a' }, s.nextSlotIndex(left)).slot, 4)
  assert.equal(s.nextSlotIndex([]), 0)
})
