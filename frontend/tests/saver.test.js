import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ApiError, NetworkError } from '../src/api.js'
import { Saver, SaveState } from '../src/saver.js'

function setup(responses) {
  const calls = []
  const api = {
    async saveRevision(id, body) {
      calls.push({ id, ...body })
      const r = responses.shift()
      if (r instanceof Error) throw r
      return r
    },
  }
  const conflicts = []
  const saver = new Saver({
    api,
    snapshot: async (t) => ({ version: t.version, parent: t.head, blob: 'bytes', shape: [1, 1, 1], seconds: 4 }),
    onSaved: (t, rev, snap) => { t.head = rev.id; t.savedVersion = snap.version },
    onConflict: (t, current) => conflicts.push(current),
    delays: [0],
    sleep: async () => {},
  })
  return { saver, calls, conflicts }
}

const target = () => ({ id: 7, head: 3, version: 2, savedVersion: 1, saveState: SaveState.IDLE })

test('a save that gets no answer is retried with the same key until it lands', async () => {
  const { saver, calls } = setup([new NetworkError('down'), new ApiError(503, {}), { id: 9 }])
  const t = target()
  await saver.save(t)
  assert.equal(calls.length, 3)
  assert.equal(new Set(calls.map((c) => c.key)).size, 1)
  assert.deepEqual([t.head, t.savedVersion, t.saveState], [9, 2, SaveState.IDLE])
  assert.equal(calls[0].parent, 3)
})

test('a stale parent stops and asks; other refusals stop and say why', async () => {
  const stale = new ApiError(409, { code: 'stale_parent', current_revision: 12, detail: 'changed' })
  const { saver, conflicts } = setup([stale])
  const t = target()
  await saver.save(t)
  assert.deepEqual([t.saveState, conflicts], [SaveState.CONFLICT, [12]])
  await saver.save(t) // no save while the conflict is open
  const refused = setup([new ApiError(409, { code: 'case_locked', detail: 'submitted' })])
  const u = target()
  await refused.saver.save(u)
  assert.equal(u.saveState, SaveState.FAILED)
  assert.match(u.saveError, /submitted/)
})

test('edits made during a save are saved next, naming the new parent', async () => {
  const { saver, calls } = setup([{ id: 10 }, { id: 11 }])
  const t = target()
  const first = saver.save(t)
  t.version = 3
  saver.save(t)
  await first
  assert.deepEqual(calls.map((c) => c.parent), [3, 10])
  assert.equal(t.savedVersion, 3)
  assert.equal(t.head, 11)
})

test('nothing to save: no request', async () => {
  const { saver, calls } = setup([])
  const t = { ...target(), savedVersion: 2 }
  await saver.save(t)
  assert.equal(calls.length, 0)
})
