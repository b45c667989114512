// Zoom, pan and fit in every view, and the value under the cursor. The math is navigate.js and
// readout.js (pure, unit-tested); this drives NiiVue's shared 2D pan/zoom (scene.pan2Dxyzmm,
// one for the three views, so the 3-view layout stays linked) and a line in the stage's corner.

import { h } from './dom.js'
import { FIT, panTo, wheelNotches, zoomAt, zoomBy } from './navigate.js'
import { readoutText, valueAt, worldOf } from './readout.js'

export class Viewport {
  constructor(app) {
    this.app = app
    this.el = h('div', { class: 'vw-readout', 'aria-live': 'off' })
    this.last = null // { value, native, ras, mm, view } under the cursor
    this.pan = null // { anchor (mm), view } while a pan drag is under way
    this.frame = null
  }

  attach(stage) {
    stage.append(this.el)
  }

  get nv() {
    return this.app.view.nv
  }

  /** [x, y, z, zoom] now. */
  get state() {
    return Array.from(this.nv.scene.pan2Dxyzmm)
  }

  /** World mm (NiiVue's) of a RAS voxel (fractional). */
  mmOf(vox) {
    const dims = this.app.grid.rasDims
    return Array.from(this.nv.frac2mm([0, 1, 2].map((a) => (vox[a] + 0.5) / dims[a]))).slice(0, 3)
  }

  _set(pan) {
    this.nv.scene.pan2Dxyzmm = pan
    this.app.view.redraw()
  }

  /** Zoom by `notches` steps keeping the point under (clientX, clientY) fixed (else the crosshair). */
  zoom(notches, clientX = null, clientY = null) {
    const p = clientX == null ? null : this.app.view.pick(clientX, clientY)
    const pan = this.state
    const mm = this.mmOf(p ? p.vox : this.app.view.vox)
    this._set(zoomAt(pan, zoomBy(pan[3], notches), mm))
    this.app.invalidate('toolbar')
  }

  wheel(e) {
    this.zoom(wheelNotches(e.deltaY, e.deltaMode), e.clientX, e.clientY)
  }

  fit() {
    this._set([...FIT])
    this.app.invalidate('toolbar')
  }

  /** Move the image by a fraction of the view: keys. dx, dy in screen directions (+: right, down). */
  nudge(dx, dy) {
    const { view } = this.app
    const focus = this.app.focusView()
    const c = view.toScreen(view.vox, focus)
    if (!c) return
    const r = this.app.ui.canvas.getBoundingClientRect()
    const step = Math.min(r.width, r.height) / 10
    const from = view.pick(r.left + c[0], r.top + c[1])
    const to = view.pick(r.left + c[0] - dx * step, r.top + c[1] - dy * step)
    if (!from || !to) return
    this._set(panTo(this.state, this.mmOf(from.vox), this.mmOf(to.vox)))
  }

  startPan(e) {
    const p = this.app.view.pick(e.clientX, e.clientY)
    if (p) this.pan = { anchor: this.mmOf(p.vox), view: p.view }
    return !!p
  }

  movePan(e) {
    if (!this.pan) return
    const p = this.app.view.pick(e.clientX, e.clientY)
    if (!p || p.view !== this.pan.view) return
    this._set(panTo(this.state, this.pan.anchor, this.mmOf(p.vox)))
  }

  endPan() {
    this.pan = null
  }

  /** The readout for the cursor at (clientX, clientY): at most once a frame. */
  hover(e) {
    this.pending = [e.clientX, e.clientY]
    if (this.frame) return
    this.frame = requestAnimationFrame(() => {
      this.frame = null
      this.readAt(...this.pending)
    })
  }

  /** Read the value under a client point now (tests call it through hover's frame). */
  readAt(clientX, clientY) {
    const { view, grid } = this.app
    const p = view.pick(clientX, clientY)
    if (!p) {
      this.last = null
      this.el.textContent = ''
      return null
    }
    const ras = p.vox.map(Math.round)
    const img = view.image
    const value = valueAt(img.img, grid.rasDims, ras, img.hdr.scl_slope, img.hdr.scl_inter)
    const native = grid.toNativeCoord(ras)
    const mm = worldOf(grid.affine, native)
    this.last = { value, native, ras, mm, view: p.view }
    this.el.textContent = readoutText({ value, modality: this.app.case?.image.modality, native, mm })
    return this.last
  }
}
