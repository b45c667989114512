// AI assist: box and point prompts, new targets, clip propagation, and the model's progress
// (websocket, with polling while it is down). A result arrives as one undoable step.

import { refreshFlags } from './flags.js'
import { NORMAL_AXIS } from './grid.js'
import * as ops from './maskops.js'
import { ProgressSocket } from './progress.js'
import {
  applyTargetFields, boxFromCorners, isDirty, isRunning, jobMessage, labelsFor, makeTarget, nextSlotIndex, pointAt, pointsOn,
  progressStep, targetPoints,
} from './state.js'

export class Assist {
  constructor(app) {
    this.app = app
    this.pending = { points: [] } // prompts on the current slice, not yet sent
    this.newLabel = null // the label of the target the next prompt creates
    this.socketUp = false
  }

  connect() {
    const { app } = this
    this.socket = new ProgressSocket(app.config.wsPath, (m) => this.onProgress(m), (up) => this.socketState(up))
    setInterval(() => this.pollJobs(), 4000)
  }

  labels() {
    return labelsFor(this.app.config.labels, this.app.targets)
  }

  chooseLabel(label) {
    this.newLabel = label
    this.app.invalidate('side')
  }

  clearPending() {
    this.pending = { points: [] }
  }

  async request(t, prompts, { replace = false } = {}) {
    const { app } = this
    if (!app.masks.editable(t)) return
    if (isDirty(t) || app.saving.saving(t)) {
      await app.saving.save(t)
      if (isDirty(t)) return app.ui.toast('Save this target before asking the model.', 'error')
    }
    try {
      const job = await app.api.presegment(t.id, { prompts, replace })
      this.onProgress(jobMessage(job, t.id))
    } catch (err) {
      app.ui.toast(`The model could not start: ${err.message}`, 'error')
    }
  }

  /** A box dragged on the key view (RAS corners): re-prompt the target, or create one. */
  async boxDrawn(a, b) {
    const { app } = this
    const prompt = boxFromCorners(app.grid.toNativeCoord(a), app.grid.toNativeCoord(b), app.grid.dims)
    if (!prompt) return app.ui.toast('Draw a larger box.', 'info', 1500)
    const { index, box } = prompt
    const points = pointsOn(this.pending.points, index)
    this.clearPending()
    await this.prompt({ index, box, points })
    app.ui.drawOverlay()
  }

  addPoint(vox, positive) {
    this.pending.points.push(pointAt(this.app.grid.toNativeCoord(vox), positive))
    this.app.ui.drawOverlay()
    this.app.invalidate('side')
  }

  /** Enter: send the points waiting on this slice. */
  async runPending() {
    const { app } = this
    const index = app.grid.toNativeCoord(app.view.vox)[2]
    const points = pointsOn(this.pending.points, index)
    if (!points.length) return app.ui.toast('Add points (P / O) or draw a box (B) on this slice first.', 'info')
    this.clearPending()
    app.ui.drawOverlay()
    await this.prompt({ index, points })
    app.invalidate('side')
  }

  /** A prompt on one slice: for the active target, or a new target (no target, or a label chosen). */
  async prompt({ index, box, points }) {
    const { app } = this
    if (app.current && !this.newLabel) return this.request(app.current, [{ index, ...(box ? { box } : {}), points }])
    const t = await this.createTarget({ key_index: index, ...(box ? { box } : {}), points: targetPoints(points, index) })
    if (t) await this.request(t, [])
  }

  /** Clips: propagate this frame's mask through the clip (saved first: it is the prompt). */
  async propagate() {
    const { app } = this
    const t = app.current
    if (!app.masks.editable(t)) return
    const axis = NORMAL_AXIS[app.grid.keyView()]
    if (!ops.countSlice(app.masks.of(t), app.grid.rasDims, axis, app.view.vox[axis])) {
      return app.ui.toast('Draw the mask on this frame first; it is the prompt that is propagated.', 'warn')
    }
    await app.saving.save(t)
    if (isDirty(t) || !t.head) return app.ui.toast('Save this target before propagating.', 'error')
    await this.request(t, [{ index: app.player.frame, mask_revision: t.head }], { replace: true })
  }

  async createTarget(prompt) {
    const { app } = this
    const label = this.newLabel || this.labels()[0]
    try {
      const data = await app.api.createTarget(app.case.id, { label, ...prompt })
      const t = makeTarget(data, nextSlotIndex(app.targets))
      app.targets.push(t)
      app.active = t.id
      this.newLabel = null
      app.masks.applyColors()
      app.invalidate('side')
      return t
    } catch (err) {
      app.ui.toast(`Could not create the target: ${err.message}`, 'error')
      return null
    }
  }

  onProgress(m) {
    const { app } = this
    if (m.type && m.type !== 'job') return
    const t = app.target(m.target)
    if (!t) {
      if (m.case === app.case?.id) this.refreshTargets()
      return
    }
    const step = progressStep(t.job, t.head, m)
    if (!step) return // an older job's late message
    t.job = step.job
    if (step.load && isDirty(t)) {
      app.ui.toast(`The model finished “${t.label}”, but you have unsaved edits; they were kept.`, 'warn')
    } else if (step.load) {
      app.masks.load(t, step.load, { label: 'model' })
        .then(() => refreshFlags(app, t))
        .then(() => app.ui.toast(`Pre-segmentation of “${t.label}” arrived.`, 'ok', 2500))
        .catch((err) => app.ui.toast(`Could not load the result: ${err.message}`, 'error'))
    } else if (step.failed) {
      app.ui.toast(`Pre-segmentation of “${t.label}” failed: ${m.message}`, 'error')
    }
    app.invalidate('side')
  }

  /** Backup for a dropped websocket: ask about jobs still running. */
  async pollJobs() {
    if (this.socketUp) return
    for (const t of this.app.targets) {
      if (!isRunning(t.job)) continue
      try {
        this.onProgress(jobMessage(await this.app.api.job(t.job.id)))
      } catch {
        /* the next poll tries again */
      }
    }
  }

  /** New targets (made elsewhere) and fresh review verdicts from the API. */
  async refreshTargets() {
    const { app } = this
    for (const data of await app.api.targets(app.case.id)) {
      const t = app.target(data.id)
      if (t) {
        t.review = data.review
        t.headVoxels = data.head_voxel_count
        if (data.head === t.head) t.headNumber = data.head_number
        applyTargetFields(t, data)
      } else {
        app.targets.push(makeTarget(data, nextSlotIndex(app.targets)))
      }
    }
    app.masks.applyColors()
    app.invalidate('side')
  }

  socketState(up) {
    this.socketUp = up
    this.app.root.querySelector('.live')?.classList.toggle('off', !up)
  }
}
