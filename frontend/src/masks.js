// Masks in the viewer: loading revisions, edits (each one history entry holding the voxels it
// flipped), undo/redo, and keeping NiiVue's drawing layer in step (only the changed box).

import { fillBox, fullBox, layerColors, layerFn } from './composite.js'
import { NORMAL_AXIS } from './grid.js'
import * as ops from './maskops.js'
import * as nifti from './nifti.js'
import { editBlocker } from './state.js'

export class Masks {
  constructor(app) {
    this.app = app
    this.lastFullBox = null // what the last full refresh covered (a hidden mask must be cleared)
  }

  empty() {
    return new Uint8Array(this.app.grid.size)
  }

  of(t) {
    if (!t.mask) t.mask = this.empty()
    return t.mask
  }

  async fetch(t, revisionId) {
    const { api, grid } = this.app
    const buffer = await nifti.readBody(await api.mask(t.id, revisionId))
    const header = nifti.parseHeader(buffer)
    const [a, b, c] = header.dims
    const [x, y, z] = grid.dims
    if (a !== x || b !== y || c !== z) throw new Error(`mask ${a}×${b}×${c} does not match the image ${x}×${y}×${z}`)
    let native = nifti.voxels(buffer, header)
    if (!(native instanceof Uint8Array)) native = Uint8Array.from(native, (v) => (v ? 1 : 0))
    return grid.toRas(native, this.empty())
  }

  /**
   * Replace a target's mask with a stored revision. With history, the change is one undoable
   * step (a model result, a reload); the target is then in step with that revision.
   */
  async load(t, revisionId, { history = true, label = 'load' } = {}) {
    const incoming = await this.fetch(t, revisionId)
    const changed = ops.diff(t.mask || this.empty(), incoming)
    const box = ops.bboxOf(changed, this.app.grid.rasDims)
    if (history) this.app.history.push({ target: t.id, indices: changed, box, label })
    else this.app.history.dropTarget(t.id)
    t.mask = incoming
    t.count = ops.count(incoming)
    t.extent = ops.unionBox(t.extent, ops.bboxOfMask(incoming, this.app.grid.rasDims))
    if (t.head !== revisionId) {
      t.head = revisionId
      t.headNumber = null // "rev …" until the API says which rev of this target it is
      this.app.api.target(t.id).then((d) => {
        if (d.head === t.head) t.headNumber = d.head_number
        this.app.invalidate('side')
      }, () => {})
    }
    t.version += 1
    t.savedVersion = t.version
    this.refresh(box)
    this.app.invalidate('side')
  }

  /** Recompute the drawing layer in a box (RAS inclusive; null = every target's extent). */
  refresh(box) {
    const { view, targets, active, mode, masksOn } = this.app
    if (!view?.composite) return
    this.app.render3d.changed() // the 3D view follows (nothing while it is closed)
    if (box === null) {
      box = this.lastFullBox = fullBox(targets, this.lastFullBox)
      if (!box) return view.redraw()
    }
    if (!box) return
    const display = mode === 'review' ? this.app.review.display : 'submitted'
    fillBox(view.composite, this.app.grid.rasDims, box, layerFn({ masksOn, display, targets, active }))
    view.uploadDrawing(box)
    view.redraw()
  }

  applyColors() {
    this.app.view.setColors(layerColors(this.app.targets, this.app.current))
  }

  editable(t, { quiet = false } = {}) {
    const why = editBlocker(this.app.mode, t)
    if (why && !quiet) this.app.ui.toast(why, 'warn')
    return why === ''
  }

  /** Count change of flipped voxels (they are already flipped in the mask). */
  recount(t, indices) {
    const mask = this.of(t)
    let delta = 0
    for (let k = 0; k < indices.length; k++) delta += mask[indices[k]] ? 1 : -1
    t.count += delta
  }

  /** An edit's flipped voxels (already in the mask) become one history entry. */
  commit(t, indices, label) {
    if (!indices.length) return
    this.recount(t, indices)
    const box = ops.bboxOf(indices, this.app.grid.rasDims)
    this.app.history.push({ target: t.id, indices, box, label })
    t.extent = ops.unionBox(t.extent, box)
    this.app.interp.noteEdit(t, box) // the slices to interpolate between
    this.changed(t, box)
  }

  /** A target's mask changed in `box`: a new version to save, the display, autosave. */
  changed(t, box) {
    t.version += 1
    this.refresh(box)
    this.app.saving.schedule()
    this.app.invalidate('side', 'status')
  }

  undo() {
    const { history } = this.app
    this.step(history.undoStack.at(-1), () => history.undo())
  }

  redo() {
    const { history } = this.app
    this.step(history.redoStack.at(-1), () => history.redo())
  }

  step(next, take) {
    if (!next) return this.app.ui.toast('Nothing to undo or redo.', 'info', 1200)
    const t = this.app.target(next.target)
    if (!this.editable(t)) return
    const entry = take()
    ops.flip(this.of(t), entry.indices)
    this.recount(t, entry.indices)
    t.extent = ops.unionBox(t.extent, entry.box)
    this.app.activity.touch(t.id)
    this.changed(t, entry.box)
  }

  clearSlice() {
    const { current: t, view } = this.app
    if (!this.editable(t)) return
    const plane = this.app.focusView()
    const flipped = ops.clearSlice(this.of(t), this.app.grid.rasDims, plane, view.vox[NORMAL_AXIS[plane]])
    if (!flipped.length) return this.app.ui.toast('Nothing to clear on this slice.', 'info', 1500)
    this.commit(t, flipped, 'clear slice')
  }
}
