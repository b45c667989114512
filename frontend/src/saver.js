// Saving masks: each save is a new revision naming its parent. A save that gets no answer or a
// 5xx is retried with the same Idempotency-Key (so it lands once) until it succeeds; it is never
// dropped. A stale parent (409) stops and asks the user; any other refusal stops and says why.

import { newKey } from './api.js'

export const SaveState = { IDLE: 'idle', SAVING: 'saving', RETRYING: 'retrying', CONFLICT: 'conflict', FAILED: 'failed' }

export class Saver {
  /**
   * @param {object} o
   * @param {import('./api.js').Api} o.api
   * @param {(t) => Promise<{version:number, parent:number|null, blob:Blob, shape:number[], seconds:number}>} o.snapshot
   * @param {(t, revision, snap) => void} o.onSaved
   * @param {(t) => void} o.onChange  called whenever a target's save state changes
   * @param {(t, currentRevision) => void} o.onConflict
   */
  constructor({ api, snapshot, onSaved, onChange, onConflict, delays = [1, 2, 4, 8, 10], sleep }) {
    this.api = api
    this.snapshot = snapshot
    this.onSaved = onSaved || (() => {})
    this.onChange = onChange || (() => {})
    this.onConflict = onConflict || (() => {})
    this.delays = delays
    this.sleep = sleep || ((s) => new Promise((r) => setTimeout(r, s * 1000)))
    this.running = new Map() // target id → promise
  }

  /** Save a target's current mask if it has changes. Resolves when it is saved or stopped. */
  save(t) {
    if (t.saveState === SaveState.CONFLICT) return Promise.resolve()
    if (this.running.has(t.id)) {
      t.saveAgain = true
      return this.running.get(t.id)
    }
    if (t.version === t.savedVersion && t.saveState !== SaveState.FAILED) return Promise.resolve()
    const run = this._run(t).finally(() => this.running.delete(t.id))
    this.running.set(t.id, run)
    return run
  }

  busy() {
    return this.running.size > 0
  }

  _set(t, state, error = '') {
    t.saveState = state
    t.saveError = error
    this.onChange(t)
  }

  async _run(t) {
    do {
      t.saveAgain = false
      if (t.version === t.savedVersion) break
      this._set(t, SaveState.SAVING)
      const snap = await this.snapshot(t)
      const key = newKey()
      let attempt = 0
      for (;;) {
        try {
          const revision = await this.api.saveRevision(t.id, {
            parent: snap.parent, blob: snap.blob, shape: snap.shape, activeSeconds: snap.seconds, note: snap.note, key,
          })
          t.attempts = 0
          this.onSaved(t, revision, snap)
          this._set(t, SaveState.IDLE)
          break
        } catch (err) {
          if (err.transient) {
            attempt += 1
            t.attempts = attempt
            this._set(t, SaveState.RETRYING, err.message)
            await this.sleep(this.delays[Math.min(attempt - 1, this.delays.length - 1)])
            continue
          }
          if (err.status === 409 && err.code === 'stale_parent') {
            this._set(t, SaveState.CONFLICT, err.message)
            this.onConflict(t, err.body.current_revision ?? null)
            return
          }
          this._set(t, SaveState.FAILED, err.message)
          return
        }
      }
    } while (t.saveAgain || t.version !== t.savedVersion)
  }
}
