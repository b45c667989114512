// Mouse, wheel and keyboard on the stage. Mouse: the current tool (paint, fill, box, points,
// navigate, ruler), window/level on a right-drag, pan on a middle-drag; wheel scrolls slices,
// Ctrl+wheel zooms at the cursor. Keys: the table in keymap.js.

import { match } from './keymap.js'
import * as ops from './maskops.js'
import { brushStep, cycleTarget, dragWindow } from './state.js'

// What each key map action does, given the app, the row's argument and the event.
export const ACTIONS = {
  scroll: (app, n, e) => app.view.scroll(app.focusView(), e.shiftKey ? 5 * n : n),
  jumpToKey: (app) => app.jumpToKey(),
  layout: (app, name) => app.setLayout(name),
  cycleTarget: (app, _, e) => {
    const id = cycleTarget(app.targets, app.active, e.shiftKey ? -1 : 1)
    if (id !== null) app.selectTarget(id)
  },
  togglePlay: (app) => app.player.toggle(),
  stepFrame: (app, n) => app.player.step(n),
  tool: (app, name) => app.setTool(name),
  preset: (app, i) => app.applyPreset(app.presets()[i]),
  toggleMasks: (app) => app.toggleMasks(),
  opacity: (app, d) => app.setOpacity(app.opacity + d),
  runPending: (app) => app.assist.runPending(),
  brush: (app, dir) => app.setBrush(brushStep(app.brushSize, dir)),
  clearSlice: (app) => app.masks.clearSlice(),
  undo: (app) => app.masks.undo(),
  redo: (app) => app.masks.redo(),
  interpolate: (app) => app.interp.run(),
  toggleThreshold: (app) => app.threshold.toggle(),
  toggle3D: (app) => app.render3d.toggle(),
  save: (app) => app.saving.saveAll(),
  nextCase: (app) => app.nextCase(),
  zoom: (app, n) => app.viewport.zoom(n),
  pan: (app, [dx, dy]) => app.viewport.nudge(dx, dy),
  fit: (app) => app.viewport.fit(),
  clearRulers: (app) => app.measuring.clear(),
  help: (app) => app.ui.toggleHelp(),
  escape: (app) => {
    app.input.drag = null
    app.measuring?.cancel()
    app.assist.clearPending()
    app.lasso?.cancel()
    app.ui.closeDialogs()
    app.ui.drawOverlay()
  },
}

// Typing in a text field is not a shortcut; sliders and buttons keep the shortcuts working.
const TEXT_FIELD = 'input:not([type=range]):not([type=checkbox]), textarea, select'

export class Input {
  constructor(app) {
    this.app = app
    this.drag = null // { kind: 'wl' | 'box' | 'nav', ... } while a mouse button is down
    this.stroking = null // the brush or eraser stroke under way
    this.lastView = null // the view last pointed at: the keyboard acts on it
  }

  bind(wrap) {
    const { app } = this
    // Our handlers run first (capture) and keep NiiVue's own mouse handling out of the way.
    const stop = (e) => {
      e.stopPropagation()
      e.preventDefault()
    }
    wrap.addEventListener('mousedown', (e) => { stop(e); this.pointerDown(e) }, true)
    window.addEventListener('mousemove', (e) => this.pointerMove(e), true)
    window.addEventListener('mouseup', (e) => this.pointerUp(e), true)
    wrap.addEventListener('mousemove', (e) => { e.stopPropagation(); app.viewport.hover(e) }, true)
    wrap.addEventListener('mouseup', (e) => { e.stopPropagation() }, true)
    wrap.addEventListener('dblclick', stop, true)
    wrap.addEventListener('contextmenu', (e) => e.preventDefault(), true)
    wrap.addEventListener('wheel', (e) => {
      stop(e)
      const p = app.view.pick(e.clientX, e.clientY)
      const view = p ? p.view : app.focusView()
      this.lastView = view
      if (e.ctrlKey || e.metaKey) return app.viewport.wheel(e) // also a trackpad's pinch
      app.view.scroll(view, (e.deltaY > 0 ? -1 : 1) * (e.shiftKey ? 5 : 1))
      app.activity.touch(app.active)
    }, { capture: true, passive: false })
    wrap.addEventListener('touchstart', stop, { capture: true, passive: false })
    document.addEventListener('keydown', (e) => this.keyDown(e))
    new ResizeObserver(() => {
      app.view.resize()
      app.ui.sizeOverlay()
    }).observe(wrap)
    app.ui.sizeOverlay()
  }

  keyDown(e) {
    const { app } = this
    const hit = match(e)
    if (!hit) return
    if (!hit.row.inFields && e.target.closest?.(TEXT_FIELD)) return
    if (hit.row.when && !hit.row.when({ video: app.isVideo, presets: app.presets().length }, hit.arg)) return
    if (hit.row.prevent !== false) {
      e.preventDefault()
      app.activity.touch(app.active)
    }
    ACTIONS[hit.action](app, hit.arg, e)
  }

  pointerDown(e) {
    const { app } = this
    const p = app.view.pick(e.clientX, e.clientY)
    if (!p) return
    this.lastView = p.view
    app.activity.touch(app.active)
    if (e.button === 1) {
      if (app.viewport.startPan(e)) this.drag = { kind: 'pan' }
      return
    }
    if (e.button === 2 || (e.button === 0 && app.tool === 'wl')) {
      this.drag = { kind: 'wl', x: e.clientX, y: e.clientY, start: app.view.window }
      return
    }
    if (e.button !== 0) return
    const t = app.current
    const keyView = app.grid.keyView()
    // Prompts for a new target need no editable target; for the active one they do.
    const promptable = () => !t || app.assist.newLabel || app.masks.editable(t)
    switch (app.tool) {
      case 'navigate':
        this.drag = { kind: 'nav' }
        app.view.setVox(p.vox)
        break
      case 'ruler':
        this.drag = { kind: 'ruler' }
        app.measuring.start(p)
        break
      case 'brush':
      case 'eraser':
        if (app.masks.editable(t)) this.startStroke(t, p, app.tool === 'brush' ? 1 : 0)
        break
      case 'fill': {
        if (!app.masks.editable(t)) return
        const flipped = ops.fillEnclosed(app.masks.of(t), app.grid.rasDims, p.view, p.vox)
        if (flipped === null) app.ui.toast('Fill works inside a closed outline; this region reaches the edge.', 'warn')
        else if (flipped.length) app.masks.commit(t, flipped, 'fill')
        break
      }
      case 'lasso':
        this.drag = { kind: 'lasso' }
        app.lasso.down(p, e.clientX, e.clientY, e.shiftKey)
        break
      case 'box':
        if (p.view !== keyView) return app.ui.toast(`Draw boxes on the ${['axial', 'coronal', 'sagittal'][keyView]} view.`, 'info')
        if (promptable()) this.drag = { kind: 'box', view: p.view, a: p.vox, b: p.vox }
        break
      case 'point+':
      case 'point-':
        if (p.view === keyView && promptable()) app.assist.addPoint(p.vox, app.tool === 'point+')
        break
    }
  }

  startStroke(t, p, value) {
    const { app } = this
    const radii = ops.brushRadii(app.brushSize, app.view.spacing, p.view)
    const list = new ops.IndexList()
    const gate = app.threshold.gate(value) // threshold paint: only voxels in the range
    ops.dab(app.masks.of(t), app.grid.rasDims, p.view, p.vox, radii, value, list, gate)
    this.stroking = { t, view: p.view, last: p.vox, radii, value, list, flushed: 0, gate }
    this.flushStroke()
  }

  pointerMove(e) {
    const { app } = this
    if (this.stroking || this.drag) app.activity.touch(app.active)
    if (this.stroking) {
      const p = app.view.pick(e.clientX, e.clientY)
      const s = this.stroking
      if (!p || p.view !== s.view) return
      ops.stroke(app.masks.of(s.t), app.grid.rasDims, s.view, s.last, p.vox, s.radii, s.value, s.list, s.gate)
      s.last = p.vox
      if (!this.strokeFrame) this.strokeFrame = requestAnimationFrame(() => this.flushStroke())
      return
    }
    const drag = this.drag
    if (!drag) return
    if (drag.kind === 'wl') {
      const { center, width } = dragWindow(drag.start, e.clientX - drag.x, e.clientY - drag.y)
      if (!this.wlFrame) {
        this.wlFrame = requestAnimationFrame(() => {
          this.wlFrame = null
          app.view.setWindow(center, width)
          app.invalidate('toolbar')
        })
      }
    } else if (drag.kind === 'lasso') {
      app.lasso.move(app.view.pick(e.clientX, e.clientY), e.clientX, e.clientY)
    } else if (drag.kind === 'box') {
      const p = app.view.pick(e.clientX, e.clientY)
      if (p && p.view === drag.view) drag.b = p.vox
      app.ui.drawOverlay()
    } else if (drag.kind === 'pan') {
      app.viewport.movePan(e)
    } else if (drag.kind === 'ruler') {
      app.measuring.move(app.view.pick(e.clientX, e.clientY))
    } else if (drag.kind === 'nav') {
      const p = app.view.pick(e.clientX, e.clientY)
      if (p) app.view.setVox(p.vox)
    }
  }

  /** Show what the stroke painted since the last frame (only that box of the layer). */
  flushStroke() {
    this.strokeFrame = null
    const s = this.stroking
    if (!s) return
    const fresh = s.list.data.subarray(s.flushed, s.list.length)
    s.flushed = s.list.length
    if (!fresh.length) return
    const box = ops.bboxOf(fresh, this.app.grid.rasDims)
    s.t.extent = ops.unionBox(s.t.extent, box)
    this.app.masks.refresh(box)
  }

  pointerUp() {
    const { app } = this
    if (this.stroking) {
      this.flushStroke()
      const s = this.stroking
      this.stroking = null
      app.activity.touch(s.t.id)
      app.masks.commit(s.t, s.list.toArray(), s.value ? 'brush' : 'eraser')
      return
    }
    const drag = this.drag
    this.drag = null
    if (drag?.kind === 'pan') app.viewport.endPan()
    if (drag?.kind === 'ruler') app.measuring.end()
    if (drag?.kind === 'box') {
      app.ui.drawOverlay()
      app.assist.boxDrawn(drag.a, drag.b)
    }
    if (drag?.kind === 'lasso') app.lasso.up()
  }
}
