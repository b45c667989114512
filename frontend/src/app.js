// The case viewer: starts up, holds the state every part reads, and wires the parts together.
// See docs/viewer.md for the design. The parts, each in its module:
//   ui (page, toolbar, side panel, overlay, dialogs)   input + keymap (mouse, keys, help)
//   masks (edits, history, drawing layer)             saving (autosave, Save, conflicts)
//   assist (AI prompts and progress)                  review (model / diff, verdicts)
//   player (echo clips)                               state (the rules, as pure functions)

import { Api, ApiError } from './api.js'
import { ActivityTracker } from './activity.js'
import { Assist } from './assist.js'
import { h, postForm } from './dom.js'
import { History } from './history.js'
import { Input } from './input.js'
import { SliceInterpolation } from './interpolate.js'
import { LassoTool } from './lasso.js'
import { Masks } from './masks.js'
import { Measuring } from './measuring.js'
import { ClipPlayer } from './player.js'
import { initialWindow, presetsFor } from './presets.js'
import { Render3D } from './render3d.js'
import { Review } from './review.js'
import { Saving } from './saving.js'
import { ThresholdBrush } from './threshold.js'
import { applyTargetFields, clampBrush, clampOpacity, isDirty, keyNative, makeTarget, toolAllowed } from './state.js'
import { Ui } from './ui.js'
import { loadImage, loadSlice, paintSlice, SliceView } from './view.js'
import { Viewport } from './viewport.js'

export function imageUrl(config) {
  return new URL(`${config.apiBase}/cases/${config.caseId}/image`, location.href).href
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

export class App {
  constructor(root, config, { image } = {}) {
    this.root = root
    this.config = config
    this.mode = config.mode // annotate | review | view
    this.api = new Api({ base: config.apiBase, csrfToken: config.csrfToken })
    this.params = new URLSearchParams(location.search)
    this.image = image
    this.targets = []
    this.active = null
    this.tool = this.mode === 'annotate' ? 'brush' : 'navigate'
    this.brushSize = 6
    this.opacity = 0.6
    this.masksOn = true
    this.history = new History()
    this.activity = new ActivityTracker({ idleSeconds: 30 })
    this.marks = {}
    this.ui = new Ui(this)
    this.masks = new Masks(this)
    this.saving = new Saving(this, {
      autosaveSeconds: Number(this.params.get('autosave') ?? config.autosaveSeconds ?? 8),
      delays: (this.params.get('retry') || '1,2,4,8,10').split(',').map(Number),
    })
    this.assist = new Assist(this)
    this.review = new Review(this)
    this.player = new ClipPlayer(this)
    // Correction tools: interpolation between slices, threshold brush, lasso, 3D view of the masks.
    this.interp = new SliceInterpolation(this)
    this.threshold = new ThresholdBrush(this)
    this.lasso = new LassoTool(this)
    this.render3d = new Render3D(this)
    this.input = new Input(this)
    this.viewport = new Viewport(this) // zoom, pan, fit, the value under the cursor
    this.measuring = new Measuring(this) // ruler, target volume and axes
  }

  // ------------------------------------------------------------------ start

  async start() {
    const t0 = performance.now()
    this.ui.build(this.root, { mode: this.mode, tool: this.tool })
    const win = initialWindow(this.config.case?.image)
    if (!this.image) this.image = loadImage(imageUrl(this.config), win)
    // Large volumes: the key slice alone comes first (the page preloads it), shown while the
    // volume is still on its way. Editing starts once the volume is in.
    const preview = this.config.previewSlice == null ? null : this._showPreview(loadSlice(`${imageUrl(this.config)}?slice=${this.config.previewSlice}`, win), win, t0)
    await Promise.race([this.image.started, sleep(3000)])
    this.marks.workerStarted = performance.now()
    // NiiVue's start-up blocks the main thread (and so any painting) for a while: give the key
    // slice a moment to reach the screen first. The volume downloads in the worker meanwhile.
    if (preview) await Promise.race([preview, sleep(400)])
    this.view = new SliceView(this.ui.canvas)
    // The page carries the case and its targets, so opening a case waits for no API call but
    // the image; without them (an old page), ask the API.
    const [caseData, targets] = this.config.case
      ? [this.config.case, this.config.targets]
      : await Promise.all([this.api.getCase(this.config.caseId), this.api.targets(this.config.caseId)])
    this.case = caseData
    this.marks.caseLoaded = performance.now()
    this.isVideo = caseData.image.kind === 'video'
    this.root.classList.toggle('is-video', this.isVideo)
    this.targets = targets.map((t, i) => makeTarget(t, i))
    this.active = this.targets[0]?.id ?? null
    this.ui.renderSide()
    const loaded = await this.image.loaded
    await preview
    this.marks.imageLoaded = performance.now()
    for (const [k, v] of Object.entries(loaded.times || {})) this.marks[`image.${k}`] = v - performance.timeOrigin
    await this._openVolume(loaded, caseData, t0)
    await Promise.all(this.targets.filter((t) => t.head).map((t) => this.masks.load(t, t.head, { history: false })))
    if (this.mode === 'annotate' && this.case.status !== 'in_progress') {
      try {
        this.case = await this.api.caseAction(this.case.id, 'start')
      } catch (err) {
        this.ui.toast(`Could not open the case for editing: ${err.message}`, 'error')
      }
    }
    this.assist.connect()
    window.addEventListener('beforeunload', (e) => {
      if (this.unsaved() && !this.leaving) {
        e.preventDefault()
        e.returnValue = ''
      }
    })
    this.ui.invalidate(['all'])
    this.ui.flush() // ready means drawn
    this.ready = true
    this.marks.ready = performance.now()
  }

  /** The volume into NiiVue at the first target's key slice, then the tools. */
  async _openVolume(loaded, caseData, t0) {
    const first = this.targets[0]
    const centre = loaded.dims.slice(0, 3).map((d) => Math.floor(d / 2))
    const startNative = first ? keyNative(first, centre) : centre
    const forced = this.params.get('slicemode')
    await this.view.load(loaded, {
      window: initialWindow(caseData.image),
      startNative,
      forceSliceMode: forced === null ? null : forced === '1',
    })
    this._firstFrame(t0)
    this.previewCanvas?.remove()
    this.ui.busy('')
    this.view.onChange((what) => this._onViewChange(what))
    this.grid = this.view.grid
    this.input.bind(this.ui.stage)
    this.viewport.attach(this.ui.stage)
    this.ui.renderToolbar()
    this.ui.renderStatus()
    this.setOpacity(this.opacity)
    this.masks.applyColors()
    await this.setLayout(this.isVideo ? 'axial' : this._preferredLayout())
    if (this.isVideo) this.player.setup(this.ui.player)
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
    this.ui.stage.append(this.previewCanvas)
    if (!paintSlice(this.previewCanvas, slice, win)) return this.previewCanvas.remove()
    await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))
    if (this.marks.firstRender !== undefined) return
    this.marks.previewShown = performance.now()
    this._rendered(t0, this.marks.previewShown)
    this.ui.busy('Loading the whole volume…', { corner: true })
  }

  _preferredLayout() {
    const saved = localStorage.getItem('viewer.layout')
    const software2D = this.view.slice2D && this.view.softwareGL
    if (saved && saved !== 'axial' && software2D) return 'axial'
    return saved || (software2D ? 'axial' : 'multi')
  }

  _onViewChange(what) {
    if (what === 'slice' || what === 'layout' || what === 'resize' || what === 'draw') {
      this.ui.drawOverlay()
      this.ui.renderHud()
    }
  }

  // ------------------------------------------------------------------ state the parts share

  /** Mark parts of the page stale ('toolbar', 'side', 'status', 'hud', 'all'). */
  invalidate(...parts) {
    this.ui.invalidate(parts)
  }

  target(id) {
    return this.targets.find((t) => t.id === id) || null
  }

  get current() {
    return this.target(this.active)
  }

  presets() {
    return presetsFor(this.case?.image.modality)
  }

  unsaved() {
    return this.saving.unsaved()
  }

  // ------------------------------------------------------------------ view and tools

  async setLayout(name) {
    if (this.isVideo) name = 'axial'
    this.ui.busy(name !== 'axial' && this.view.slice2D ? 'Building the 3D views…' : '')
    await this.view.setLayout(name)
    this.ui.busy('')
    if (!this.isVideo) localStorage.setItem('viewer.layout', name)
    this.layout = name
    this.invalidate('toolbar')
    this.ui.drawOverlay()
  }

  /** The view the keyboard acts on: the one last pointed at, else the key view, else the first. */
  focusView() {
    const views = this.view.visibleViews()
    const last = this.input.lastView
    if (last != null && views.includes(last)) return last
    const key = this.grid.keyView()
    return views.includes(key) ? key : views[0] ?? 0
  }

  jumpToKey(t = this.current) {
    if (!t) return
    this.view.setVox(this.grid.toRasCoord(keyNative(t, this.grid.toNativeCoord(this.view.vox))))
  }

  setTool(tool) {
    if (!toolAllowed(this.mode, tool)) return
    if (tool !== 'lasso') this.lasso.cancel()
    this.tool = tool
    this.invalidate('toolbar')
    this.ui.stage.dataset.tool = tool
  }

  setBrush(size) {
    this.brushSize = clampBrush(size)
    this.invalidate('toolbar')
  }

  setOpacity(o) {
    this.opacity = clampOpacity(o)
    this.view.setOpacity(this.opacity)
    this.invalidate('toolbar')
  }

  toggleMasks() {
    this.masksOn = !this.masksOn
    this.masks.refresh(null)
    this.invalidate('toolbar')
  }

  toggleVisible(t) {
    t.visible = !t.visible
    this.masks.refresh(null)
    this.invalidate('side')
  }

  applyPreset(p) {
    this.view.setWindow(p.center, p.width)
    this.invalidate('toolbar')
  }

  selectTarget(id) {
    this.active = id
    this.assist.newLabel = null
    this.masks.applyColors()
    this.masks.refresh(null)
    this.invalidate('side')
  }

  // ------------------------------------------------------------------ managing targets

  /** Rename, relabel or write the note to the reviewer (PATCH; only the fields given). */
  async changeTarget(t, fields) {
    try {
      applyTargetFields(t, await this.api.changeTarget(t.id, fields))
      this.masks.applyColors() // a new label may bring a new colour
      this.invalidate('side')
      return true
    } catch (err) {
      this.ui.toast(`Could not change “${t.displayName}”: ${err.message}`, 'error')
      this.invalidate('side')
      return false
    }
  }

  /** Delete a target (the server keeps its revisions for the history); it leaves the viewer. */
  async deleteTarget(t) {
    const what = t.headNumber ? ` and its ${t.headNumber} revision${t.headNumber > 1 ? 's' : ''}` : ''
    if (!confirm(`Delete “${t.displayName}”${what}? It leaves this case; its history stays in the audit trail.`)) return
    t.savedVersion = t.version // unsaved edits of a deleted target are not saved
    await this.saving.saver.running.get(t.id)?.catch(() => {})
    try {
      await this.api.deleteTarget(t.id)
    } catch (err) {
      return this.ui.toast(`Could not delete “${t.displayName}”: ${err.message}`, 'error')
    }
    this.targets = this.targets.filter((x) => x !== t)
    this.history.dropTarget(t.id)
    if (this.active === t.id) this.active = this.targets[0]?.id ?? null
    this.masks.applyColors()
    this.masks.refresh(t.extent)
    this.ui.toast(`Deleted “${t.displayName}”.`, 'ok', 2500)
    this.invalidate('side', 'status')
  }

  // ------------------------------------------------------------------ case actions

  async submit() {
    if (!(await this.saving.saveAll())) return this.ui.toast('Some changes are not saved yet; submit once they are.', 'error')
    if (this.targets.some((t) => !t.head)) return this.ui.toast('Every target needs a mask before submitting.', 'warn')
    try {
      this.case = await this.api.caseAction(this.case.id, 'submit')
      this.mode = 'view'
      this.root.dataset.mode = 'view'
      this.ui.toast('Submitted for review.', 'ok', 4000)
      this.invalidate('all')
    } catch (err) {
      this.ui.toast(`Could not submit: ${err.message}`, 'error')
    }
  }

  async nextCase() {
    if (this.mode === 'annotate' && !(await this.saving.saveAll())) {
      if (!confirm('Some changes could not be saved yet. Leave anyway?')) return
    }
    this.leaving = true
    postForm(this.config.urls.next, this.config.csrfToken, this.case ? { project: this.case.project } : {})
  }

  // ------------------------------------------------------------------ test and bench hooks

  /**
   * Interpolate a target between two slices (native slice numbers along the key axis, as
   * state().slice[2]); one undo step. Resolves to {voxels, slices, ms}. See interpolate.js.
   */
  interpolate(targetId, fromSlice, toSlice, options) {
    return this.interp.interpolate(targetId, fromSlice, toSlice, options)
  }

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
      correction: { threshold: this.threshold.state(), render3d: this.render3d.state(), lasso: !!this.lasso.path },
      undoDepth: this.history.depth,
      redoDepth: this.history.redoStack.length,
      unsaved: this.ready ? this.unsaved() : false,
      marks: this.marks,
      zoom: this.view?.image ? this.viewport.state : null,
      readout: this.viewport.last,
      rulers: this.view?.image ? this.measuring.state() : [],
      targets: this.targets.map((t) => ({
        id: t.id, label: t.label, name: t.name, displayName: t.displayName, note: t.note, headNumber: t.headNumber,
        head: t.head, keyIndex: t.keyIndex, voxels: t.mask ? t.count : null,
        dirty: isDirty(t), saveState: t.saveState, attempts: t.attempts || 0, job: t.job, review: t.review,
        measures: this.grid && t.mask ? this.measuring.of(t) : null,
      })),
    }
  }

  /** Client coordinates of a native voxel in a view (for tests that drive the mouse). */
  screenOf(native, view = this.grid.keyView()) {
    const p = this.view.toScreen(this.grid.toRasCoord(native), view)
    if (!p) return null
    const r = this.ui.canvas.getBoundingClientRect()
    return [r.left + p[0], r.top + p[1]]
  }
}

export { ApiError }
