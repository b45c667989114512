// The case viewer: loads the case, shows it with NiiVue, edits masks, talks to the API.
// See docs/viewer.md for the design (masks, history, saving, echo mode, review).

import { Api, ApiError } from './api.js'
import { ActivityTracker } from './activity.js'
import { h, hexToRgb, postForm } from './dom.js'
import { NORMAL_AXIS } from './grid.js'
import { History } from './history.js'
import * as ops from './maskops.js'
import * as nifti from './nifti.js'
import { presetsFor, SHORTCUTS } from './presets.js'
import { ProgressSocket } from './progress.js'
import { Saver, SaveState } from './saver.js'
import { loadImage, loadSlice, paintSlice, SliceView } from './view.js'

/** The window an image opens with: its own, the CT abdomen preset, or NiiVue's robust range. */
export function initialWindow(image) {
  if (!image) return null
  if (image.window) return { center: image.window.center, width: image.window.width }
  if (image.modality === 'CT') return { center: 40, width: 400 }
  return null
}

export function imageUrl(config) {
  return new URL(`${config.apiBase}/cases/${config.caseId}/image`, location.href).href
}

const EDIT_TOOLS = new Set(['brush', 'eraser', 'fill'])
const AI_TOOLS = new Set(['box', 'point+', 'point-'])
const ACTIVE_JOB = new Set(['queued', 'running'])
// Drawing-layer values for the review diff (targets use 1..N).
const DIFF = { SAME: 251, ADDED: 252, REMOVED: 253 }

export class App {
  constructor(root, config, { image } = {}) {
    this.root = root
    this.config = config
    this.mode = config.mode // annotate | review | view
    this.api = new Api({ base: config.apiBase, csrfToken: config.csrfToken })
    this.params = new URLSearchParams(location.search)
    this.autosaveSeconds = Number(this.params.get('autosave') ?? config.autosaveSeconds ?? 8)
    this.image = image
    this.targets = []
    this.active = null
    this.tool = this.mode === 'annotate' ? 'brush' : 'navigate'
    this.brushSize = 6
    this.opacity = 0.6
    this.masksOn = true
    this.pending = { points: [] } // prompts on the current slice, not yet sent
    this.history = new History()
    this.activity = new ActivityTracker({ idleSeconds: 30 })
    this.reviewDisplay = 'submitted' // submitted | model | diff
    this.newLabel = null
    this.marks = {}
    this.saver = new Saver({
      api: this.api,
      snapshot: (t) => this._snapshot(t),
      onSaved: (t, revision, snap) => {
        t.head = revision.id
        t.headVoxels = revision.voxel_count
        t.savedVersion = snap.version
        this.activity.consume(t.id, snap.seconds)
      },
      onChange: () => {
        this.renderStatus()
        this.renderSide()
      },
      onConflict: (t, current) => this.showConflict(t, current),
      delays: (this.params.get('retry') || '1,2,4,8,10').split(',').map(Number),
    })
  }

  // ------------------------------------------------------------------ start

  async start() {
    const t0 = performance.now()
    this.buildLayout()
    const win = initialWindow(this.config.case?.image)
    if (!this.image) this.image = loadImage(imageUrl(this.config), win)
    // Large volumes: the key slice alone comes first (the page preloads it), shown while the
    // volume is still on its way. Editing starts once the volume is in.
    const preview = this.config.previewSlice == null ? null : this._showPreview(loadSlice(`${imageUrl(this.config)}?slice=${this.config.previewSlice}`, win), win, t0)
    await Promise.race([this.image.started, new Promise((r) => setTimeout(r, 3000))])
    this.marks.workerStarted = performance.now()
    // NiiVue's start-up blocks the main thread (and so any painting) for a while: give the key
    // slice a moment to reach the screen first. The volume downloads in the worker meanwhile.
    if (preview) await Promise.race([preview, new Promise((r) => setTimeout(r, 400))])
    this.view = new SliceView(this.canvas)
    // The page carries the case and its targets, so opening a case waits for no API call but
    // the image; without them (an old page), ask the API.
    const [caseData, targets] = this.config.case
      ? [this.config.case, this.config.targets]
      : await Promise.all([this.api.getCase(this.config.caseId), this.api.targets(this.config.caseId)])
    this.case = caseData
    this.marks.caseLoaded = performance.now()
    this.isVideo = caseData.image.kind === 'video'
    this.root.classList.toggle('is-video', this.isVideo)
    this.targets = targets.map((t, i) => this._target(t, i))
    this.active = this.targets[0]?.id ?? null
    this.renderSide()
    const loaded = await this.image.loaded
    await preview
    this.marks.imageLoaded = performance.now()
    for (const [k, v] of Object.entries(loaded.times || {})) this.marks[`image.${k}`] = v - performance.timeOrigin
    const first = this.targets[0]
    const [nx, ny, nz] = loaded.dims
    const startNative = [Math.floor(nx / 2), Math.floor(ny / 2), first ? first.keyIndex : Math.floor(nz / 2)]
    if (first?.box) [startNative[0], startNative[1]] = [(first.box[0] + first.box[2]) / 2, (first.box[1] + first.box[3]) / 2]
    const forced = this.params.get('slicemode')
    await this.view.load(loaded, {
      window: initialWindow(caseData.image),
      startNative,
      forceSliceMode: forced === null ? null : forced === '1',
    })
    this._firstFrame(t0)
    this.previewCanvas?.remove()
    this.busy('')
    this.view.onChange((what) => this._onViewChange(what))
    this.grid = this.view.grid
    this.dims = this.view.dims
    this.bindInput()
    this.renderToolbar()
    this.setOpacity(this.opacity)
    this._applyColors()
    await this.setLayout(this.isVideo ? 'axial' : this._preferredLayout())
    if (this.isVideo) this.setupPlayer()
    await Promise.all(this.targets.filter((t) => t.head).map((t) => this.loadMask(t, t.head, { history: false })))
    if (this.mode === 'annotate' && !['in_progress'].includes(this.case.status)) {
      try {
        this.case = await this.api.caseAction(this.case.id, 'start')
      } catch (err) {
        this.toast(`Could not open the case for editing: ${err.message}`, 'error')
      }
    }
    this.socket = new ProgressSocket(this.config.wsPath, (m) => this.onProgress(m), (up) => this._socketState(up))
    setInterval(() => this._pollJobs(), 4000)
    window.addEventListener('beforeunload', (e) => {
      if (this.unsaved() && !this.leaving) {
        e.preventDefault()
        e.returnValue = ''
      }
    })
    this.renderAll()
    this.ready = true
    this.marks.ready = performance.now()
  }

  _firstFrame(t0) {
    // The frame is on screen once the GPU finished it: reading one pixel waits for that.
    // firstRender: the first image on screen (the key slice, when it came first; see
    // _showPreview); volumeRender: the volume on screen in NiiVue.
    const gl = this.view.nv.gl
    gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4))
    this.marks.volumeRender = performance.now()
    this._rendered(t0, this.marks.volumeRender)
    Object.assign(this.marks, this.view.marks)
  }

  _rendered(t0, at) {
    if (this.marks.firstRender !== undefined) return
    this.marks.firstRender = at
    this.marks.firstRenderSinceStart = at - t0
  }

  async _showPreview(slicePromise, win, t0) {
    // The key slice on a 2D canvas over the stage, unless the volume is in first. Painted
    // pixels are on screen after the next frame; NiiVue's first frame removes the canvas.
    this.previewCanvas = h('canvas', { class: 'vw-preview' })
    const slice = await Promise.race([slicePromise.catch(() => null), this.image.loaded.then(() => null, () => null)])
    this.marks.sliceLoaded = performance.now()
    if (!slice || this.marks.firstRender !== undefined) return
    this.canvasWrap.append(this.previewCanvas)
    if (!paintSlice(this.previewCanvas, slice, win)) return this.previewCanvas.remove()
    await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))
    if (this.marks.firstRender !== undefined) return
    this.marks.previewShown = performance.now()
    this._rendered(t0, this.marks.previewShown)
    this.busy('Loading the whole volume…', { corner: true })
  }

  _preferredLayout() {
    const saved = localStorage.getItem('viewer.layout')
    if (saved && saved !== 'axial' && this.view.slice2D && this.view.softwareGL) return 'axial'
    return saved || (this.view.slice2D && this.view.softwareGL ? 'axial' : 'multi')
  }

  _target(data, index) {
    return {
      id: data.id,
      label: data.label,
      color: data.color || '#ff4040',
      slot: index + 1,
      keyIndex: data.key_index,
      box: data.box,
      points: data.points || [],
      head: data.head,
      headVoxels: data.head_voxel_count,
      headSource: data.head_source,
      review: data.review,
      mask: null,
      count: data.head_voxel_count ?? 0, // voxels set in `mask`, kept up to date by every edit
      extent: null, // RAS bounding box of what the mask may contain
      version: 0,
      savedVersion: 0,
      saveState: SaveState.IDLE,
      visible: true,
      job: null,
      model: null, // review: the model's mask
    }
  }

  target(id) {
    return this.targets.find((t) => t.id === id) || null
  }

  get current() {
    return this.target(this.active)
  }

  // ------------------------------------------------------------------ masks

  _emptyMask() {
    return new Uint8Array(this.grid.size)
  }

  async fetchMask(t, revisionId) {
    const response = await this.api.mask(t.id, revisionId)
    const buffer = await nifti.readBody(response)
    const header = nifti.parseHeader(buffer)
    const [a, b, c] = header.dims
    const [x, y, z] = this.grid.dims
    if (a !== x || b !== y || c !== z) throw new Error(`mask ${a}×${b}×${c} does not match the image ${x}×${y}×${z}`)
    let native = nifti.voxels(buffer, header)
    if (!(native instanceof Uint8Array)) native = Uint8Array.from(native, (v) => (v ? 1 : 0))
    return this.grid.toRas(native, this._emptyMask())
  }

  /**
   * Replace a target's mask with a stored revision. With history, the change is one undoable
   * step (a model result, a reload); the target is then in step with that revision.
   */
  async loadMask(t, revisionId, { history = true, label = 'load' } = {}) {
    const incoming = await this.fetchMask(t, revisionId)
    const before = t.mask || this._emptyMask()
    const changed = ops.diff(before, incoming)
    const box = ops.bboxOf(changed, this.dims)
    if (history) {
      this.history.push({ target: t.id, indices: changed, box, label })
    } else {
      this.history.dropTarget(t.id)
    }
    t.mask = incoming
    t.count = ops.count(incoming)
    t.extent = ops.unionBox(t.extent, ops.bboxOfMask(incoming, this.dims))
    t.head = revisionId
    t.version += 1
    t.savedVersion = t.version
    this.refreshMasks(box)
    this.renderSide()
  }

  maskOf(t) {
    if (!t.mask) t.mask = this._emptyMask()
    return t.mask
  }

  /** Recompute the drawing layer in a box (RAS inclusive; null = every target's extent). */
  refreshMasks(box) {
    if (!this.view?.composite) return
    if (box === null) {
      box = null
      for (const t of this.targets) box = ops.unionBox(box, t.extent)
      for (const t of this.targets) box = ops.unionBox(box, t.model ? t.modelExtent : null)
      box = ops.unionBox(box, this.lastFullBox || null)
      this.lastFullBox = box
      if (!box) {
        this.view.redraw()
        return
      }
    }
    if (!box) return
    const comp = this.view.composite
    const [nx, ny] = this.dims
    const layers = this._layers()
    for (let z = box[2]; z <= box[5]; z++) {
      for (let y = box[1]; y <= box[4]; y++) {
        let i = (z * ny + y) * nx + box[0]
        for (let x = box[0]; x <= box[3]; x++, i++) comp[i] = layers(i)
      }
    }
    this.view.uploadDrawing(box)
    this.view.redraw()
  }

  /** voxel index → drawing value, for the current display. */
  _layers() {
    if (!this.masksOn) return () => 0
    if (this.mode === 'review' && this.reviewDisplay !== 'submitted') {
      const t = this.current
      if (!t) return () => 0
      const mine = t.mask, model = t.model
      if (this.reviewDisplay === 'model') return (i) => (model && model[i] ? t.slot : 0)
      return (i) => {
        const a = mine && mine[i], b = model && model[i]
        return a && b ? DIFF.SAME : a ? DIFF.ADDED : b ? DIFF.REMOVED : 0
      }
    }
    const order = [...this.targets].filter((t) => t.visible && t.mask)
    order.sort((a, b) => (b.id === this.active) - (a.id === this.active))
    const masks = order.map((t) => t.mask)
    const slots = order.map((t) => t.slot)
    return (i) => {
      for (let k = 0; k < masks.length; k++) if (masks[k][i]) return slots[k]
      return 0
    }
  }

  _applyColors() {
    const colors = {}
    for (const t of this.targets) colors[t.slot] = [...hexToRgb(t.color), 255]
    const active = this.current
    colors[DIFF.SAME] = [...(active ? hexToRgb(active.color) : [255, 200, 0]), 255]
    colors[DIFF.ADDED] = [40, 220, 90, 255]
    colors[DIFF.REMOVED] = [240, 40, 200, 255]
    this.view.setColors(colors)
  }

  /** Apply an edit's flipped voxels: history, dirty state, display, autosave. */
  /** Count change of flipped voxels (they are already flipped in the mask). */
  _recount(t, indices) {
    const mask = this.maskOf(t)
    let delta = 0
    for (let k = 0; k < indices.length; k++) delta += mask[indices[k]] ? 1 : -1
    t.count += delta
  }

  commitEdit(t, indices, label) {
    if (!indices.length) return
    this._recount(t, indices)
    const box = ops.bboxOf(indices, this.dims)
    this.history.push({ target: t.id, indices, box, label })
    t.extent = ops.unionBox(t.extent, box)
    this._changedTarget(t, box)
  }

  _changedTarget(t, box) {
    t.version += 1
    this.refreshMasks(box)
    this.scheduleAutosave()
    this.renderSide()
    this.renderStatus()
  }

  editable(t, { quiet = false } = {}) {
    if (this.mode !== 'annotate') return false
    if (!t) {
      if (!quiet) this.toast('Choose a target first (or draw a box to create one).', 'warn')
      return false
    }
    if (t.job && ACTIVE_JOB.has(t.job.status)) {
      if (!quiet) this.toast(`The model is working on “${t.label}”; wait for its result.`, 'warn')
      return false
    }
    if (t.saveState === SaveState.CONFLICT) {
      if (!quiet) this.toast('Resolve the save conflict of this target first.', 'warn')
      return false
    }
    return true
  }

  undo() {
    this._step(this.history.undoStack.at(-1), () => this.history.undo())
  }

  redo() {
    this._step(this.history.redoStack.at(-1), () => this.history.redo())
  }

  _step(next, take) {
    if (!next) return this.toast('Nothing to undo or redo.', 'info', 1200)
    const t = this.target(next.target)
    if (!this.editable(t)) return
    const entry = take()
    ops.flip(this.maskOf(t), entry.indices)
    this._recount(t, entry.indices)
    t.extent = ops.unionBox(t.extent, entry.box)
    this.activity.touch(t.id)
    this._changedTarget(t, entry.box)
  }

  clearSlice() {
    const t = this.current
    if (!this.editable(t)) return
    const view = this.focusView()
    const flipped = ops.clearSlice(this.maskOf(t), this.dims, view, this.view.vox[NORMAL_AXIS[view]])
    if (!flipped.length) return this.toast('Nothing to clear on this slice.', 'info', 1500)
    this.commitEdit(t, flipped, 'clear slice')
  }

  // ------------------------------------------------------------------ saving

  async _snapshot(t) {
    const native = this.grid.toNative(this.maskOf(t), new Uint8Array(this.grid.size))
    return {
      version: t.version,
      parent: t.head ?? null,
      blob: await nifti.gzip(native),
      shape: this.grid.dims,
      seconds: this.activity.peek(t.id),
      note: '',
    }
  }

  dirty(t) {
    return t.version !== t.savedVersion
  }

  unsaved() {
    return this.targets.some((t) => this.dirty(t) || t.saveState !== SaveState.IDLE) || this.saver.busy()
  }

  scheduleAutosave() {
    clearTimeout(this.autosaveTimer)
    if (this.autosaveSeconds <= 0) return
    this.autosaveTimer = setTimeout(() => this.saveAll({ auto: true }), this.autosaveSeconds * 1000)
  }

  async saveAll({ auto = false } = {}) {
    if (this.mode !== 'annotate') return true
    if (this.stroking) {
      this.scheduleAutosave()
      return false
    }
    clearTimeout(this.autosaveTimer)
    const work = this.targets.filter((t) => this.dirty(t) || t.saveState === SaveState.FAILED).map((t) => this.saver.save(t))
    if (!work.length && !auto) this.toast('All changes are saved.', 'info', 1200)
    await Promise.all(work)
    this.renderStatus()
    return !this.unsaved()
  }

  showConflict(t, current) {
    const dialog = this.dialog(
      'Someone else changed this target',
      h('p', {}, `“${t.label}” was saved by someone else (revision ${current}) after the version you started from. Your edits are still here.`),
      [
        ['reload', 'Load theirs (discard my edits)', async () => {
          t.saveState = SaveState.IDLE
          await this.loadMask(t, current, { label: 'reload' })
          this.toast(`Loaded revision ${current}. Undo (Ctrl+Z) brings your edits back.`, 'info')
          this.renderStatus()
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

  // ------------------------------------------------------------------ AI assist

  async requestAI(t, prompts, { replace = false } = {}) {
    if (!this.editable(t)) return
    if (this.dirty(t) || this.saver.running.has(t.id)) {
      await this.saver.save(t)
      if (this.dirty(t)) return this.toast('Save this target before asking the model.', 'error')
    }
    try {
      const job = await this.api.presegment(t.id, { prompts, replace })
      this.onProgress({ type: 'job', job: job.id, target: t.id, status: job.status, done: job.done, total: job.total, message: job.message, revision: job.result })
    } catch (err) {
      this.toast(`The model could not start: ${err.message}`, 'error')
    }
  }

  /** Prompts on the current key-axis slice, in native voxel coordinates. */
  _nativePoint(vox) {
    return this.grid.toNativeCoord(vox)
  }

  async boxDrawn(a, b) {
    const na = this._nativePoint(a), nb = this._nativePoint(b)
    const index = Math.round(na[2])
    const [nx, ny] = this.grid.dims
    const x0 = Math.max(0, Math.round(Math.min(na[0], nb[0]))), x1 = Math.min(nx, Math.round(Math.max(na[0], nb[0])) + 1)
    const y0 = Math.max(0, Math.round(Math.min(na[1], nb[1]))), y1 = Math.min(ny, Math.round(Math.max(na[1], nb[1])) + 1)
    if (x1 - x0 < 2 || y1 - y0 < 2) return this.toast('Draw a larger box.', 'info', 1500)
    const box = [x0, y0, x1, y1]
    const points = this._pendingOn(index)
    this.pending = { points: [] }
    let t = this.current
    if (!t || this.newLabel) {
      await this.createTarget({ key_index: index, box, points: points.map(([x, y, p]) => ({ x, y, z: index, positive: !!p })) })
      t = this.current
      if (t) await this.requestAI(t, [])
    } else {
      await this.requestAI(t, [{ index, box, points }])
    }
    this.drawOverlay()
  }

  _pendingOn(index) {
    return this.pending.points.filter((p) => p.index === index).map((p) => [p.x, p.y, p.positive ? 1 : 0])
  }

  addPoint(vox, positive) {
    const n = this._nativePoint(vox)
    this.pending.points.push({ index: Math.round(n[2]), x: Math.round(n[0] * 10) / 10, y: Math.round(n[1] * 10) / 10, positive })
    this.drawOverlay()
    this.renderSide()
  }

  async runPending() {
    const index = this.grid.toNativeCoord(this.view.vox)[2]
    const points = this._pendingOn(index)
    if (!points.length) return this.toast('Add points (P / O) or draw a box (B) on this slice first.', 'info')
    this.pending = { points: [] }
    this.drawOverlay()
    if (!this.current || this.newLabel) {
      await this.createTarget({ key_index: index, points: points.map(([x, y, p]) => ({ x, y, z: index, positive: !!p })) })
      if (this.current) await this.requestAI(this.current, [])
    } else {
      await this.requestAI(this.current, [{ index, points }])
    }
    this.renderSide()
  }

  async propagate() {
    const t = this.current
    if (!this.editable(t)) return
    const frame = Math.round(this.grid.toNativeCoord(this.view.vox)[2])
    if (!ops.countSlice(this.maskOf(t), this.dims, NORMAL_AXIS[this.grid.keyView()], this.view.vox[NORMAL_AXIS[this.grid.keyView()]])) {
      return this.toast('Draw the mask on this frame first; it is the prompt that is propagated.', 'warn')
    }
    await this.saver.save(t)
    if (this.dirty(t) || !t.head) return this.toast('Save this target before propagating.', 'error')
    await this.requestAI(t, [{ index: frame, mask_revision: t.head }], { replace: true })
  }

  async createTarget(prompt) {
    const label = this.newLabel || this.labels()[0]
    try {
      const data = await this.api.createTarget(this.case.id, { label, ...prompt })
      const t = this._target(data, this.targets.length)
      this.targets.push(t)
      this.active = t.id
      this.newLabel = null
      this._applyColors()
      this.renderSide()
      return t
    } catch (err) {
      this.toast(`Could not create the target: ${err.message}`, 'error')
      return null
    }
  }

  labels() {
    const names = this.config.labels || []
    const seen = new Set(this.targets.map((t) => t.label))
    return names.length ? names : [...seen].length ? [...seen] : ['lesion']
  }

  onProgress(m) {
    if (m.type && m.type !== 'job') return
    const t = this.target(m.target)
    if (!t) {
      if (m.case === this.case?.id) this._refreshTargets()
      return
    }
    const previous = t.job
    if (previous && previous.id > m.job) return // an older job's late message
    t.job = { id: m.job, status: m.status, done: m.done, total: m.total, message: m.message }
    // Revision ids only grow: a done job whose result is older than the head (a snapshot sent on
    // connect, say) must not replace newer work.
    if (m.status === 'done' && m.revision && m.revision > (t.head ?? 0) && previous?.applied !== m.revision) {
      t.job.applied = m.revision
      if (this.dirty(t)) {
        this.toast(`The model finished “${t.label}”, but you have unsaved edits; they were kept.`, 'warn')
      } else {
        this.loadMask(t, m.revision, { label: 'model' }).then(() => {
          this.toast(`Pre-segmentation of “${t.label}” arrived.`, 'ok', 2500)
        }).catch((err) => this.toast(`Could not load the result: ${err.message}`, 'error'))
      }
    } else if (m.status === 'failed' && previous?.status !== 'failed') {
      this.toast(`Pre-segmentation of “${t.label}” failed: ${m.message}`, 'error')
    }
    this.renderSide()
  }

  async _pollJobs() {
    // Backup for a dropped websocket: ask about jobs still running.
    if (this.socketUp) return
    for (const t of this.targets) {
      if (t.job && ACTIVE_JOB.has(t.job.status)) {
        try {
          const job = await this.api.job(t.job.id)
          this.onProgress({ type: 'job', job: job.id, target: job.target, case: job.case, status: job.status, done: job.done, total: job.total, message: job.message, revision: job.result })
        } catch {
          /* the next poll tries again */
        }
      }
    }
  }

  async _refreshTargets() {
    const targets = await this.api.targets(this.case.id)
    for (const data of targets) {
      const t = this.target(data.id)
      if (t) {
        t.review = data.review
        t.headVoxels = data.head_voxel_count
      } else {
        this.targets.push(this._target(data, this.targets.length))
      }
    }
    this._applyColors()
    this.renderSide()
  }

  _socketState(up) {
    this.socketUp = up
    this.root.querySelector('.live')?.classList.toggle('off', !up)
  }

  // ------------------------------------------------------------------ review

  async showModel(t) {
    if (t.model !== null || !t.head) return
    const list = await this.api.revisions(t.id)
    const revisions = list.results || list
    const model = [...revisions].reverse().find((r) => r.source === 'model')
    t.modelRevision = model ? model.id : null
    t.model = model ? await this.fetchMask(t, model.id) : this._emptyMask()
    t.modelExtent = ops.bboxOfMask(t.model, this.dims)
  }

  async setReviewDisplay(mode) {
    this.reviewDisplay = mode
    if (mode !== 'submitted') {
      for (const t of this.targets) await this.showModel(t)
    }
    this.refreshMasks(null)
    this.renderSide()
  }

  async decide(t, decision) {
    const comment = this.root.querySelector(`textarea[data-comment="${t.id}"]`)?.value.trim() || ''
    if (decision === 'reject' && !comment) return this.toast('A rejection needs a comment telling the annotator what to fix.', 'warn')
    try {
      await this.api.reviewTarget(t.id, { decision, comment })
      this.case = await this.api.getCase(this.case.id)
      await this._refreshTargets()
      this.toast(`${decision === 'accept' ? 'Accepted' : 'Rejected'} “${t.label}”.`, 'ok')
      if (['accepted', 'rejected'].includes(this.case.status)) this.toast(`The case is now ${this.case.status}.`, 'ok', 5000)
      this.renderAll()
    } catch (err) {
      this.toast(err.message, 'error')
    }
  }

  // ------------------------------------------------------------------ case actions

  async submit() {
    if (!(await this.saveAll())) return this.toast('Some changes are not saved yet; submit once they are.', 'error')
    if (this.targets.some((t) => !t.head)) return this.toast('Every target needs a mask before submitting.', 'warn')
    try {
      this.case = await this.api.caseAction(this.case.id, 'submit')
      this.mode = 'view'
      this.root.dataset.mode = 'view'
      this.toast('Submitted for review.', 'ok', 4000)
      this.renderAll()
    } catch (err) {
      this.toast(`Could not submit: ${err.message}`, 'error')
    }
  }

  async nextCase() {
    if (this.mode === 'annotate' && !(await this.saveAll())) {
      if (!confirm('Some changes could not be saved yet. Leave anyway?')) return
    }
    this.leaving = true
    postForm(this.config.urls.next, this.config.csrfToken, this.case ? { project: this.case.project } : {})
  }

  // ------------------------------------------------------------------ view

  async setLayout(name) {
    if (this.isVideo) name = 'axial'
    this.busy(name !== 'axial' && this.view.slice2D ? 'Building the 3D views…' : '')
    await this.view.setLayout(name)
    this.busy('')
    if (!this.isVideo) localStorage.setItem('viewer.layout', name)
    this.layout = name
    this.renderToolbar()
    this.drawOverlay()
  }

  /** The view the keyboard acts on: the key view when shown, else the first one. */
  focusView() {
    if (this.lastView != null && this.view.visibleViews().includes(this.lastView)) return this.lastView
    const views = this.view.visibleViews()
    const key = this.grid.keyView()
    return views.includes(key) ? key : views[0] ?? 0
  }

  jumpToKey(t = this.current) {
    if (!t) return
    const native = this.grid.toNativeCoord(this.view.vox)
    native[2] = t.keyIndex
    if (t.box) {
      native[0] = (t.box[0] + t.box[2]) / 2
      native[1] = (t.box[1] + t.box[3]) / 2
    }
    this.view.setVox(this.grid.toRasCoord(native))
  }

  setTool(tool) {
    if (this.mode !== 'annotate' && (EDIT_TOOLS.has(tool) || AI_TOOLS.has(tool))) return
    this.tool = tool
    this.renderToolbar()
    this.canvasWrap.dataset.tool = tool
  }

  setBrush(size) {
    this.brushSize = Math.max(1, Math.min(80, Math.round(size)))
    this.renderToolbar()
  }

  setOpacity(o) {
    this.opacity = Math.max(0, Math.min(1, o))
    this.view.setOpacity(this.opacity)
    this.renderToolbar()
  }

  toggleMasks() {
    this.masksOn = !this.masksOn
    this.refreshMasks(null)
    this.renderToolbar()
  }

  applyPreset(p) {
    this.view.setWindow(p.center, p.width)
    this.renderToolbar()
  }

  selectTarget(id) {
    this.active = id
    this.newLabel = null
    this._applyColors()
    if (this.mode === 'review' && this.reviewDisplay !== 'submitted') this.refreshMasks(null)
    else this.refreshMasks(null)
    this.renderSide()
  }

  _onViewChange(what) {
    if (what === 'slice' || what === 'layout' || what === 'resize' || what === 'draw') {
      this.drawOverlay()
      this.renderHud()
    }
  }

  // ------------------------------------------------------------------ echo

  setupPlayer() {
    const fps = this.case.image.frame_rate || 25
    const frames = this.grid.dims[2]
    this.fps = fps
    const scrub = this.root.querySelector('.vw-player input[type=range]')
    scrub.max = String(frames - 1)
    scrub.addEventListener('input', () => this.setFrame(Number(scrub.value)))
    this.root.querySelector('.vw-player .play').addEventListener('click', () => this.togglePlay())
    this.renderPlayer()
  }

  get frame() {
    return Math.round(this.grid.toNativeCoord(this.view.vox)[2])
  }

  setFrame(f) {
    const frames = this.grid.dims[2]
    const native = this.grid.toNativeCoord(this.view.vox)
    native[2] = ((f % frames) + frames) % frames
    this.view.setVox(this.grid.toRasCoord(native))
    this.renderPlayer()
  }

  togglePlay() {
    if (!this.isVideo) return
    if (this.playing) {
      clearInterval(this.playing)
      this.playing = null
    } else {
      this.playing = setInterval(() => this.setFrame(this.frame + 1), 1000 / this.fps)
    }
    this.renderPlayer()
  }

  renderPlayer() {
    if (!this.isVideo) return
    const bar = this.root.querySelector('.vw-player')
    bar.querySelector('.play').textContent = this.playing ? '❚❚' : '▶'
    bar.querySelector('input[type=range]').value = String(this.frame)
    bar.querySelector('.frame').textContent = `Frame ${this.frame + 1} / ${this.grid.dims[2]} · ${this.fps} fps`
  }

  // ------------------------------------------------------------------ input

  bindInput() {
    const wrap = this.canvasWrap
    // Our handlers run first (capture) and keep NiiVue's own mouse handling out of the way.
    const stop = (e) => {
      e.stopPropagation()
      e.preventDefault()
    }
    wrap.addEventListener('mousedown', (e) => { stop(e); this.pointerDown(e) }, true)
    window.addEventListener('mousemove', (e) => this.pointerMove(e), true)
    window.addEventListener('mouseup', (e) => this.pointerUp(e), true)
    wrap.addEventListener('mousemove', (e) => { e.stopPropagation() }, true)
    wrap.addEventListener('mouseup', (e) => { e.stopPropagation() }, true)
    wrap.addEventListener('dblclick', stop, true)
    wrap.addEventListener('contextmenu', (e) => e.preventDefault(), true)
    wrap.addEventListener('wheel', (e) => {
      stop(e)
      const p = this.view.pick(e.clientX, e.clientY)
      const view = p ? p.view : this.focusView()
      this.lastView = view
      this.view.scroll(view, (e.deltaY > 0 ? -1 : 1) * (e.shiftKey ? 5 : 1))
      this.activity.touch(this.active)
    }, { capture: true, passive: false })
    wrap.addEventListener('touchstart', stop, { capture: true, passive: false })
    document.addEventListener('keydown', (e) => this.keyDown(e))
    new ResizeObserver(() => {
      this.view.resize()
      this.sizeOverlay()
    }).observe(wrap)
    this.sizeOverlay()
  }

  pointerDown(e) {
    const p = this.view.pick(e.clientX, e.clientY)
    if (!p) return
    this.lastView = p.view
    this.activity.touch(this.active)
    if (e.button === 2 || (e.button === 0 && this.tool === 'wl')) {
      this.drag = { kind: 'wl', x: e.clientX, y: e.clientY, start: this.view.window }
      return
    }
    if (e.button !== 0) return
    const t = this.current
    switch (this.tool) {
      case 'navigate':
        this.drag = { kind: 'nav' }
        this._navigate(p)
        break
      case 'brush':
      case 'eraser': {
        if (!this.editable(t)) return
        const value = this.tool === 'brush' ? 1 : 0
        const radii = ops.brushRadii(this.brushSize, this.view.spacing, p.view)
        const list = new ops.IndexList()
        const mask = this.maskOf(t)
        ops.dab(mask, this.dims, p.view, p.vox, radii, value, list)
        this.stroking = { t, view: p.view, last: p.vox, radii, value, list, flushed: 0 }
        this._flushStroke()
        break
      }
      case 'fill': {
        if (!this.editable(t)) return
        const flipped = ops.fillEnclosed(this.maskOf(t), this.dims, p.view, p.vox)
        if (flipped === null) this.toast('Fill works inside a closed outline; this region reaches the edge.', 'warn')
        else if (flipped.length) this.commitEdit(t, flipped, 'fill')
        break
      }
      case 'box':
        if (p.view !== this.grid.keyView()) return this.toast('Draw boxes on the ' + ['axial', 'coronal', 'sagittal'][this.grid.keyView()] + ' view.', 'info')
        if (t && !this.newLabel && !this.editable(t)) return
        this.drag = { kind: 'box', view: p.view, a: p.vox, b: p.vox }
        break
      case 'point+':
      case 'point-':
        if (p.view !== this.grid.keyView()) return
        if (t && !this.newLabel && !this.editable(t)) return
        this.addPoint(p.vox, this.tool === 'point+')
        break
    }
  }

  _navigate(p) {
    this.view.setVox(p.vox)
  }

  pointerMove(e) {
    if (this.stroking || this.drag) this.activity.touch(this.active)
    if (this.stroking) {
      const p = this.view.pick(e.clientX, e.clientY)
      if (!p || p.view !== this.stroking.view) return
      const s = this.stroking
      ops.stroke(this.maskOf(s.t), this.dims, s.view, s.last, p.vox, s.radii, s.value, s.list)
      s.last = p.vox
      if (!this.strokeFrame) this.strokeFrame = requestAnimationFrame(() => this._flushStroke())
      return
    }
    if (!this.drag) return
    if (this.drag.kind === 'wl') {
      const { start } = this.drag
      const scale = Math.max(start.width, 1) / 300
      const width = start.width + (e.clientX - this.drag.x) * scale
      const center = start.center - (e.clientY - this.drag.y) * scale
      if (!this.wlFrame) {
        this.wlFrame = requestAnimationFrame(() => {
          this.wlFrame = null
          this.view.setWindow(center, width)
          this.renderToolbar()
        })
      }
    } else if (this.drag.kind === 'box') {
      const p = this.view.pick(e.clientX, e.clientY)
      if (p && p.view === this.drag.view) this.drag.b = p.vox
      this.drawOverlay()
    } else if (this.drag.kind === 'nav') {
      const p = this.view.pick(e.clientX, e.clientY)
      if (p) this._navigate(p)
    }
  }

  _flushStroke() {
    this.strokeFrame = null
    const s = this.stroking
    if (!s) return
    const fresh = s.list.data.subarray(s.flushed, s.list.length)
    s.flushed = s.list.length
    if (!fresh.length) return
    const box = ops.bboxOf(fresh, this.dims)
    s.t.extent = ops.unionBox(s.t.extent, box)
    this.refreshMasks(box)
  }

  pointerUp() {
    if (this.stroking) {
      this._flushStroke()
      const s = this.stroking
      this.stroking = null
      this.activity.touch(s.t.id)
      this.commitEdit(s.t, s.list.toArray(), s.value ? 'brush' : 'eraser')
      return
    }
    const drag = this.drag
    this.drag = null
    if (drag?.kind === 'box') {
      this.drawOverlay()
      this.boxDrawn(drag.a, drag.b)
    }
  }

  keyDown(e) {
    // Typing in a text field is not a shortcut; sliders and buttons keep the shortcuts working.
    if (e.target.closest?.('input:not([type=range]):not([type=checkbox]), textarea, select') && e.key !== 'Escape') return
    const ctrl = e.ctrlKey || e.metaKey
    const k = e.key
    const done = () => {
      e.preventDefault()
      this.activity.touch(this.active)
    }
    if (ctrl && (k === 's' || k === 'S')) return done(), this.saveAll()
    if (ctrl && (k === 'z' || k === 'Z')) return done(), e.shiftKey ? this.redo() : this.undo()
    if (ctrl && (k === 'y' || k === 'Y')) return done(), this.redo()
    if (ctrl || e.altKey) return
    if (e.shiftKey && /^Digit[1-5]$/.test(e.code)) {
      const preset = presetsFor(this.case.image.modality)[Number(e.code.slice(5)) - 1]
      if (preset) done(), this.applyPreset(preset)
      return
    }
    switch (k) {
      case 'ArrowUp': case 'PageUp': return done(), this.view.scroll(this.focusView(), e.shiftKey ? 5 : 1)
      case 'ArrowDown': case 'PageDown': return done(), this.view.scroll(this.focusView(), e.shiftKey ? -5 : -1)
      case 'ArrowRight': if (this.isVideo) return done(), this.setFrame(this.frame + 1); return
      case 'ArrowLeft': if (this.isVideo) return done(), this.setFrame(this.frame - 1); return
      case ' ': if (this.isVideo) return done(), this.togglePlay(); return
      case '1': return done(), this.setLayout('axial')
      case '2': return done(), this.setLayout('coronal')
      case '3': return done(), this.setLayout('sagittal')
      case '4': return done(), this.setLayout('multi')
      case 'k': case 'K': return done(), this.jumpToKey()
      case 'v': case 'V': return done(), this.setTool('navigate')
      case 'w': case 'W': return done(), this.setTool('wl')
      case 'b': case 'B': return done(), this.setTool('box')
      case 'p': case 'P': return done(), this.setTool('point+')
      case 'o': case 'O': return done(), this.setTool('point-')
      case 'd': case 'D': return done(), this.setTool('brush')
      case 'e': case 'E': return done(), this.setTool('eraser')
      case 'f': case 'F': return done(), this.setTool('fill')
      case 'x': case 'X': return done(), this.clearSlice()
      case '[': return done(), this.setBrush(this.brushSize - (this.brushSize > 10 ? 2 : 1))
      case ']': return done(), this.setBrush(this.brushSize + (this.brushSize >= 10 ? 2 : 1))
      case 'm': case 'M': return done(), this.toggleMasks()
      case ',': return done(), this.setOpacity(this.opacity - 0.1)
      case '.': return done(), this.setOpacity(this.opacity + 0.1)
      case 'Enter': return done(), this.runPending()
      case 'Tab': {
        done()
        const i = this.targets.findIndex((t) => t.id === this.active)
        if (this.targets.length) this.selectTarget(this.targets[(i + (e.shiftKey ? -1 : 1) + this.targets.length) % this.targets.length].id)
        return
      }
      case 'n': case 'N': return done(), this.nextCase()
      case '?': case 'h': case 'H': return done(), this.toggleHelp()
      case 'Escape':
        this.drag = null
        this.pending = { points: [] }
        this.closeDialogs()
        this.drawOverlay()
        return
    }
  }

  // ------------------------------------------------------------------ rendering (DOM)

  buildLayout() {
    const root = this.root
    root.innerHTML = ''
    root.classList.add('vw')
    root.dataset.mode = this.mode
    this.toolbar = h('div', { class: 'vw-bar' })
    this.canvas = h('canvas', { id: 'gl', tabindex: '0' })
    this.overlay = h('canvas', { class: 'vw-overlay' })
    this.hud = h('div', { class: 'vw-hud' })
    this.busyEl = h('div', { class: 'vw-busy', hidden: true })
    this.canvasWrap = h('div', { class: 'vw-stage', dataset: { tool: this.tool } }, this.canvas, this.overlay, this.hud, this.busyEl)
    const player = h('div', { class: 'vw-player' },
      h('button', { class: 'play', type: 'button', title: 'Play / pause (Space)' }, '▶'),
      h('input', { type: 'range', min: '0', max: '0', value: '0', 'aria-label': 'frame' }),
      h('span', { class: 'frame' }))
    this.side = h('aside', { class: 'vw-side' })
    this.statusEl = h('div', { class: 'vw-save', 'aria-live': 'polite' })
    this.toasts = h('div', { class: 'vw-toasts' })
    root.append(this.toolbar, h('div', { class: 'vw-body' }, h('div', { class: 'vw-main' }, this.canvasWrap, player), this.side), this.toasts)
  }

  renderAll() {
    this.renderToolbar()
    this.renderSide()
    this.renderStatus()
    this.renderHud()
    this.renderPlayer()
  }

  renderToolbar() {
    const bar = this.toolbar
    if (!this.view?.image) return
    const btn = (label, title, on, handler, attrs = {}) =>
      h('button', { type: 'button', class: on ? 'on' : '', title, onclick: handler, ...attrs }, label)
    const layouts = this.isVideo ? [] : [['axial', 'Axial', '1'], ['coronal', 'Coronal', '2'], ['sagittal', 'Sagittal', '3'], ['multi', '3 views', '4']]
    const tools = [
      ['navigate', '✥', 'Navigate (V)'], ['wl', '◐', 'Window/level drag (W)'],
      ...(this.mode === 'annotate' ? [
        ['box', '▭ Box', 'AI box (B)'], ['point+', '+ Point', 'Positive point (P)'], ['point-', '− Point', 'Negative point (O)'],
        ['brush', '✎ Brush', 'Brush (D)'], ['eraser', '⌫ Eraser', 'Eraser (E)'], ['fill', '▨ Fill', 'Fill a closed outline (F)'],
      ] : []),
    ]
    const presets = presetsFor(this.case.image.modality)
    const w = this.view.window
    const select = h('select', { 'aria-label': 'window preset', onchange: (e) => { const p = presets.find((x) => x.key === e.target.value); if (p) this.applyPreset(p) } },
      h('option', { value: '' }, presets.length ? 'Window…' : 'Window'),
      ...presets.map((p, i) => h('option', { value: p.key }, `${p.name} (Shift+${i + 1})`)))
    bar.replaceChildren(
      layouts.length ? h('div', { class: 'grp' }, ...layouts.map(([name, label, key]) => btn(label, `${label} (${key})`, this.layout === name, () => this.setLayout(name), { 'data-layout': name }))) : '',
      h('div', { class: 'grp' }, select, h('span', { class: 'wl', title: 'window level / width' }, `L ${Math.round(w.center)} W ${Math.round(w.width)}`)),
      h('div', { class: 'grp tools' }, ...tools.map(([name, label, title]) => btn(label, title, this.tool === name, () => this.setTool(name), { 'data-tool': name }))),
      this.mode === 'annotate' ? h('div', { class: 'grp' },
        h('label', { title: 'Brush size ([ and ])' }, 'Size ', h('input', { type: 'range', min: '1', max: '80', value: String(this.brushSize), 'data-control': 'brush', oninput: (e) => this.setBrush(Number(e.target.value)) }), h('span', { class: 'num' }, String(this.brushSize))),
        btn('↶', 'Undo (Ctrl+Z)', false, () => this.undo(), { 'data-action': 'undo', disabled: !this.history.canUndo }),
        btn('↷', 'Redo (Ctrl+Shift+Z)', false, () => this.redo(), { 'data-action': 'redo', disabled: !this.history.canRedo }),
        btn('Clear slice', 'Clear the target on this slice (X)', false, () => this.clearSlice(), { 'data-action': 'clear' })) : '',
      h('div', { class: 'grp' },
        btn(this.masksOn ? 'Masks on' : 'Masks off', 'Show / hide masks (M)', this.masksOn, () => this.toggleMasks(), { 'data-action': 'masks' }),
        h('input', { type: 'range', min: '0', max: '100', value: String(Math.round(this.opacity * 100)), title: 'Mask opacity (, and .)', 'data-control': 'opacity', oninput: (e) => this.setOpacity(Number(e.target.value) / 100) })),
      h('div', { class: 'grp right' }, this.statusEl,
        this.mode === 'annotate' ? btn('Save', 'Save now (Ctrl+S)', false, () => this.saveAll(), { 'data-action': 'save', class: 'primary' }) : '',
        btn('?', 'Keyboard shortcuts (?)', false, () => this.toggleHelp(), { 'data-action': 'help' })),
    )
    this.renderStatus()
  }

  renderStatus() {
    if (!this.statusEl) return
    const states = this.targets.map((t) => t.saveState)
    let text = 'All changes saved', cls = 'ok'
    if (this.mode !== 'annotate') text = this.mode === 'review' ? 'Review mode' : 'Read only'
    else if (states.includes(SaveState.CONFLICT)) (text = 'Save conflict: choose what to keep'), (cls = 'error')
    else if (states.includes(SaveState.FAILED)) {
      const t = this.targets.find((x) => x.saveState === SaveState.FAILED)
      ;(text = `Save failed: ${t.saveError}`), (cls = 'error')
    } else if (states.includes(SaveState.RETRYING)) {
      const t = this.targets.find((x) => x.saveState === SaveState.RETRYING)
      ;(text = `Server unreachable; retrying the save (attempt ${t.attempts})…`), (cls = 'warn')
    } else if (states.includes(SaveState.SAVING)) (text = 'Saving…'), (cls = 'busy')
    else if (this.targets.some((t) => this.dirty(t))) (text = 'Unsaved changes'), (cls = 'dirty')
    this.statusEl.textContent = text
    this.statusEl.className = `vw-save ${cls}`
    this.statusEl.dataset.state = cls
    const undo = this.toolbar.querySelector('[data-action=undo]')
    if (undo) undo.disabled = !this.history.canUndo
    const redo = this.toolbar.querySelector('[data-action=redo]')
    if (redo) redo.disabled = !this.history.canRedo
  }

  renderHud() {
    if (!this.view?.image) return
    const native = this.grid.toNativeCoord(this.view.vox)
    const unit = this.isVideo ? 'Frame' : 'Slice'
    const keyAxis = this.grid.dims[2]
    this.hud.textContent = `${unit} ${Math.round(native[2]) + 1} / ${keyAxis}${this.view.slice2D ? ' · slice mode' : ''}`
    this.renderPlayer()
  }

  renderSide() {
    if (!this.case) return
    const c = this.case
    const sections = []
    sections.push(h('section', { class: 'case' },
      h('div', { class: 'row' }, h('strong', {}, c.study_id), h('span', { class: `status s-${c.status}`, 'data-case-status': c.status }, c.status.replace('_', ' '))),
      h('div', { class: 'muted' }, `${c.image.modality} · ${c.image.shape.join('×')} · ${this.isVideo ? 'clip' : 'volume'}`),
      h('div', { class: 'live muted' }, '● live')))
    const items = this.targets.map((t) => this._targetItem(t))
    const labelPicker = this.mode === 'annotate' ? h('div', { class: 'new-target' },
      h('select', { 'aria-label': 'label for a new target', onchange: (e) => { this.newLabel = e.target.value || null; this.setTool('box'); this.renderSide() } },
        h('option', { value: '' }, '+ New target…'),
        ...this.labels().map((l) => h('option', { value: l, selected: this.newLabel === l }, l))),
      this.newLabel ? h('div', { class: 'hint' }, `Draw a box (B) or add points and press Enter to create a “${this.newLabel}”.`) : '') : ''
    const none = !items.length ? h('p', { class: 'muted' }, this.mode === 'annotate' ? 'No targets yet: choose a label below, then draw a box (B) around the lesion.' : 'No targets.') : ''
    sections.push(h('section', { class: 'targets' }, h('h3', {}, 'Targets'), none, h('ul', { class: 'target-list' }, ...items), labelPicker))
    if (this.mode === 'annotate') {
      const pending = this.pending.points.length
      sections.push(h('section', { class: 'ai' }, h('h3', {}, 'AI assist'),
        h('p', { class: 'muted' }, 'Box (B) on a slice re-segments the target from it; points (P/O) then Enter refine.'),
        pending ? h('div', { class: 'hint' }, `${pending} point${pending > 1 ? 's' : ''} waiting`) : '',
        h('div', { class: 'row' },
          h('button', { type: 'button', onclick: () => this.runPending(), 'data-action': 'run-ai', disabled: !pending }, 'Run AI (Enter)'),
          this.isVideo ? h('button', { type: 'button', onclick: () => this.propagate(), 'data-action': 'propagate', title: 'Use this frame’s mask and propagate it through the clip' }, 'Propagate from this frame') : '')))
      sections.push(h('section', { class: 'actions' },
        h('button', { type: 'button', class: 'primary', onclick: () => this.submit(), 'data-action': 'submit' }, 'Submit for review'),
        h('button', { type: 'button', onclick: () => this.nextCase(), 'data-action': 'next' }, 'Next case (N)')))
    } else if (this.mode === 'review') {
      sections.push(h('section', { class: 'review' }, h('h3', {}, 'Review'),
        h('div', { class: 'seg3' }, ...[['submitted', 'Submitted'], ['model', 'Model original'], ['diff', 'Difference']].map(([v, l]) =>
          h('button', { type: 'button', class: this.reviewDisplay === v ? 'on' : '', 'data-display': v, onclick: () => this.setReviewDisplay(v) }, l))),
        this.reviewDisplay === 'diff' ? h('div', { class: 'legend' }, h('span', { class: 'sw same' }), 'both ', h('span', { class: 'sw added' }), 'added by annotator ', h('span', { class: 'sw removed' }), 'removed') : '',
        h('p', { class: 'muted' }, 'Accept or reject each target; a rejection goes back to the annotator with your comment.')))
      sections.push(h('section', { class: 'actions' }, h('a', { class: 'button', href: this.config.urls.review }, '← Review queue')))
    } else {
      sections.push(h('section', { class: 'actions' }, h('a', { class: 'button', href: this.config.urls.worklist }, '← Worklist'),
        h('button', { type: 'button', onclick: () => this.nextCase(), 'data-action': 'next' }, 'Next case (N)')))
    }
    this.side.replaceChildren(...sections)
  }

  _targetItem(t) {
    const job = t.job
    const running = job && ACTIVE_JOB.has(job.status)
    const pct = running && job.total ? Math.round((100 * job.done) / job.total) : 0
    const count = t.count
    const state = this.dirty(t) ? 'unsaved' : t.saveState !== SaveState.IDLE ? t.saveState : t.head ? 'saved' : 'no mask'
    const review = t.review
    return h('li', { class: `target${t.id === this.active ? ' active' : ''}`, 'data-target': String(t.id), onclick: (e) => { if (!e.target.closest('button, textarea')) this.selectTarget(t.id) } },
      h('div', { class: 'row' },
        h('span', { class: 'swatch', style: { background: t.color } }),
        h('strong', {}, t.label),
        h('span', { class: 'muted' }, `#${t.id}`),
        h('span', { class: 'grow' }),
        h('button', { type: 'button', class: 'icon', title: t.visible ? 'Hide' : 'Show', 'data-action': 'toggle', onclick: () => { t.visible = !t.visible; this.refreshMasks(null); this.renderSide() } }, t.visible ? '◉' : '○'),
        h('button', { type: 'button', class: 'icon', title: 'Jump to key slice (K)', 'data-action': 'key', onclick: () => { this.selectTarget(t.id); this.jumpToKey(t) } }, 'Key')),
      h('div', { class: 'meta muted' },
        h('span', { 'data-voxels': String(count) }, `${count.toLocaleString()} voxels`), ' · ',
        h('span', { class: `save-${state.replace(' ', '-')}` }, state),
        t.head ? ` · rev ${t.head}` : ''),
      running ? h('div', { class: 'job' }, h('div', { class: 'bar' }, h('span', { style: { width: `${pct}%` } })), h('span', { class: 'muted' }, `AI ${job.status}${job.total ? ` ${job.done}/${job.total}` : ''}`)) : '',
      job && job.status === 'failed' ? h('div', { class: 'job failed' }, `AI failed: ${job.message}`) : '',
      review ? h('div', { class: `review-note ${review.decision}` }, `${review.decision === 'reject' ? 'Rejected' : 'Accepted'} by ${review.reviewer || 'a reviewer'}${review.current ? '' : ' (an earlier version)'}${review.comment ? `: “${review.comment}”` : ''}`) : '',
      this.mode === 'review' && !(review && review.current) ? h('div', { class: 'decide' },
        h('textarea', { rows: '2', placeholder: 'Comment (needed to reject)', 'data-comment': String(t.id) }),
        h('div', { class: 'row' },
          h('button', { type: 'button', class: 'primary', 'data-action': 'accept', onclick: () => this.decide(t, 'accept') }, 'Accept'),
          h('button', { type: 'button', class: 'danger', 'data-action': 'reject', onclick: () => this.decide(t, 'reject') }, 'Reject'))) : '')
  }

  sizeOverlay() {
    const r = this.canvasWrap.getBoundingClientRect()
    const dpr = window.devicePixelRatio || 1
    this.overlay.width = Math.round(r.width * dpr)
    this.overlay.height = Math.round(r.height * dpr)
    this.overlay.style.width = `${r.width}px`
    this.overlay.style.height = `${r.height}px`
    this.drawOverlay()
  }

  /** Prompts on screen: the box being drawn, pending points, the target's stored box. */
  drawOverlay() {
    if (!this.view?.image || !this.overlay) return
    const ctx = this.overlay.getContext('2d')
    const dpr = window.devicePixelRatio || 1
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0)
    ctx.clearRect(0, 0, this.overlay.width, this.overlay.height)
    const view = this.grid.keyView()
    if (!this.view.visibleViews().includes(view)) return
    const cur = this.view.vox
    const rect = (a, b, color, dash) => {
      const pa = this.view.toScreen(a, view), pb = this.view.toScreen(b, view)
      if (!pa || !pb) return
      ctx.strokeStyle = color
      ctx.lineWidth = 1.5
      ctx.setLineDash(dash ? [5, 4] : [])
      ctx.strokeRect(Math.min(pa[0], pb[0]), Math.min(pa[1], pb[1]), Math.abs(pb[0] - pa[0]), Math.abs(pb[1] - pa[1]))
    }
    if (this.drag?.kind === 'box') rect(this.drag.a, this.drag.b, '#ffd400', false)
    const t = this.current
    const sliceNative = Math.round(this.grid.toNativeCoord(cur)[2])
    if (t?.box && t.keyIndex === sliceNative && this.tool !== 'brush' && this.tool !== 'eraser') {
      const a = this.grid.toRasCoord([t.box[0], t.box[1], sliceNative]), b = this.grid.toRasCoord([t.box[2] - 1, t.box[3] - 1, sliceNative])
      rect(a, b, t.color, true)
    }
    for (const p of this.pending.points) {
      if (p.index !== sliceNative) continue
      const s = this.view.toScreen(this.grid.toRasCoord([p.x, p.y, p.index]), view)
      if (!s) continue
      ctx.setLineDash([])
      ctx.fillStyle = p.positive ? '#22c55e' : '#ef4444'
      ctx.strokeStyle = '#fff'
      ctx.beginPath()
      ctx.arc(s[0], s[1], 5, 0, Math.PI * 2)
      ctx.fill()
      ctx.stroke()
    }
  }

  busy(text, { corner = false } = {}) {
    this.busyEl.hidden = !text
    this.busyEl.classList.toggle('corner', corner)
    this.busyEl.textContent = text
  }

  toast(text, kind = 'info', ms = 6000) {
    const el = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text)
    this.toasts.append(el)
    setTimeout(() => el.remove(), ms)
    if (this.toasts.children.length > 4) this.toasts.firstChild.remove()
  }

  dialog(title, body, buttons) {
    this.closeDialogs()
    const el = h('div', { class: 'vw-dialog', role: 'dialog', 'aria-modal': 'true' },
      h('div', { class: 'box' }, h('h2', {}, title), body,
        h('div', { class: 'row end' }, ...buttons.map(([key, label, fn]) =>
          h('button', { type: 'button', 'data-choice': key, class: key === buttons[0][0] ? '' : 'primary', onclick: async () => { el.remove(); await fn() } }, label)))))
    this.root.append(el)
    return el
  }

  closeDialogs() {
    for (const el of this.root.querySelectorAll('.vw-dialog:not([data-conflict]), .vw-help')) el.remove()
  }

  toggleHelp() {
    const open = this.root.querySelector('.vw-help')
    if (open) return open.remove()
    const el = h('div', { class: 'vw-help', role: 'dialog', onclick: (e) => { if (e.target === el) el.remove() } },
      h('div', { class: 'box' }, h('div', { class: 'row' }, h('h2', {}, 'Keyboard shortcuts'), h('span', { class: 'grow' }), h('button', { type: 'button', onclick: () => el.remove() }, 'Close')),
        h('div', { class: 'cols' }, ...SHORTCUTS.map(([group, rows]) => h('div', {}, h('h3', {}, group),
          h('table', {}, ...rows.map(([keys, what]) => h('tr', {}, h('td', { class: 'keys' }, keys), h('td', {}, what)))))))))
    this.root.append(el)
  }

  // ------------------------------------------------------------------ test and bench hooks

  state() {
    return {
      ready: !!this.ready,
      mode: this.mode,
      caseStatus: this.case?.status,
      slice: this.view?.image ? this.grid.toNativeCoord(this.view.vox) : null,
      layout: this.layout,
      sliceMode: this.view?.slice2D,
      active: this.active,
      tool: this.tool,
      undoDepth: this.history.depth,
      redoDepth: this.history.redoStack.length,
      unsaved: this.ready ? this.unsaved() : false,
      marks: this.marks,
      targets: this.targets.map((t) => ({
        id: t.id, label: t.label, head: t.head, keyIndex: t.keyIndex, voxels: t.mask ? t.count : null,
        dirty: this.dirty(t), saveState: t.saveState, attempts: t.attempts || 0, job: t.job, review: t.review,
      })),
    }
  }

  /** Client coordinates of a native voxel in a view (for tests that drive the mouse). */
  screenOf(native, view = this.grid.keyView()) {
    const p = this.view.toScreen(this.grid.toRasCoord(native), view)
    if (!p) return null
    const r = this.canvas.getBoundingClientRect()
    return [r.left + p[0], r.top + p[1]]
  }
}

export { ApiError }
