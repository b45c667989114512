// Saving from the viewer: snapshots for the save queue (saver.js), autosave after the last
// edit, Save/Ctrl+S, and the dialog for a stale parent (409).

import { h } from './dom.js'
import * as nifti from './nifti.js'
import { Saver, SaveState } from './saver.js'
import { hasUnsaved, isDirty } from './state.js'

export class Saving {
  constructor(app, { autosaveSeconds, delays }) {
    this.app = app
    this.autosaveSeconds = autosaveSeconds
    this.timer = null
    this.saver = new Saver({
      api: app.api,
      snapshot: (t) => this.snapshot(t),
      onSaved: (t, revision, snap) => {
        t.head = revision.id
        t.headNumber = revision.number
        t.headVoxels = revision.voxel_count
        t.savedVersion = snap.version
        app.activity.consume(t.id, snap.seconds)
      },
      onChange: () => app.invalidate('status', 'side'),
      onConflict: (t, current) => this.showConflict(t, current),
      delays,
    })
  }

  async snapshot(t) {
    const { grid, activity } = this.app
    const native = grid.toNative(this.app.masks.of(t), new Uint8Array(grid.size))
    return {
      version: t.version,
      parent: t.head ?? null,
      blob: await nifti.gzip(native),
      shape: grid.dims,
      seconds: activity.peek(t.id),
      note: '',
    }
  }

  unsaved() {
    return hasUnsaved(this.app.targets, this.saver.busy())
  }

  /** Save one target (now, or join the save under way). */
  save(t) {
    return this.saver.save(t)
  }

  /** Whether a save of this target is under way. */
  saving(t) {
    return this.saver.running.has(t.id)
  }

  schedule() {
    clearTimeout(this.timer)
    if (this.autosaveSeconds <= 0) return
    this.timer = setTimeout(() => this.saveAll({ auto: true }), this.autosaveSeconds * 1000)
  }

  /** Save every changed target; true when nothing is left unsaved. */
  async saveAll({ auto = false } = {}) {
    const { app } = this
    if (app.mode !== 'annotate') return true
    if (app.input?.stroking) {
      this.schedule()
      return false
    }
    clearTimeout(this.timer)
    const work = app.targets.filter((t) => isDirty(t) || t.saveState === SaveState.FAILED).map((t) => this.saver.save(t))
    if (!work.length && !auto) app.ui.toast('All changes are saved.', 'info', 1200)
    await Promise.all(work)
    app.invalidate('status')
    return !this.unsaved()
  }

  showConflict(t, current) {
    const { app } = this
    const dialog = app.ui.dialog(
      'Someone else changed this target',
      h('p', {}, `“${t.label}” was saved by someone else (revision ${current}) after the version you started from. Your edits are still here.`),
      [
        ['reload', 'Load theirs (discard my edits)', async () => {
          t.saveState = SaveState.IDLE
          await app.masks.load(t, current, { label: 'reload' })
          app.ui.toast(`Loaded revision ${current}. Undo (Ctrl+Z) brings your edits back.`, 'info')
          app.invalidate('status')
        }],
        ['keep', 'Keep mine as a new revision', () => {
          t.head = current
          t.saveState = SaveState.IDLE
          this.saver.save(t)
        }],
      ],
    )
    dialog.dataset.conflict = String(t.id)
  }
}
