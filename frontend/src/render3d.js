// The 3D view of the masks: a panel beside the slices with every visible target's surface
// (voxel faces, src/surface.js) in its own small NiiVue, which the user turns with the mouse,
// and the count of pieces and cavities per target (stray blobs and holes at a glance).
//
// It is a separate NiiVue on its own canvas, so the slice views are untouched: while the panel
// is closed nothing is computed or drawn for it; while it is open, a mask change rebuilds the
// surfaces once the edits pause (REBUILD_MS), never during a stroke.

import { Niivue, NVMesh, SLICE_TYPE } from '@niivue/niivue'
import './correction.css'
import { h, hexToRgb } from './dom.js'
import { topology, voxelSurface } from './surface.js'

const REBUILD_MS = 250

export class Render3D {
  constructor(app) {
    this.app = app
    this.on = false
    this.nv = null
    this.panel = null
    this.meshes = []
    this.stats = []
    this.builds = 0
    this.timer = null
  }

  /** Open or close the panel. Resolves once the surfaces are drawn (or the panel closed). */
  async toggle(on = !this.on) {
    this.on = on
    this.app.invalidate('toolbar')
    if (!on) {
      clearTimeout(this.timer)
      this.panel?.remove()
      this._clear()
      return
    }
    if (!this.panel) this._makePanel()
    this.app.ui.stage.parentElement.append(this.panel)
    if (!this.nv) {
      this.info.textContent = 'Starting the 3D view…'
      this.nv = new Niivue({
        backColor: [0.06, 0.08, 0.12, 1], show3Dcrosshair: false, isColorbar: false, dragAndDropEnabled: false,
        isOrientCube: true, loadingText: '', logLevel: 'warn', viewModeHotKey: 'None', clipPlaneHotKey: 'None', cycleClipPlaneHotKey: 'None',
      })
      await this.nv.attachToCanvas(this.canvas)
      this.nv.setSliceType(SLICE_TYPE.RENDER)
      this.nv.setRenderAzimuthElevation(120, 15)
    }
    this.nv.resizeListener()
    this.rebuild()
  }

  /** A mask changed or was shown/hidden: rebuild when the edits pause (nothing when closed). */
  changed() {
    if (!this.on) return
    clearTimeout(this.timer)
    this.timer = setTimeout(() => this.rebuild(), REBUILD_MS)
  }

  _makePanel() {
    this.canvas = h('canvas', { class: 'vw-3d-canvas' })
    this.info = h('div', { class: 'vw-3d-info', 'aria-live': 'polite' })
    this.panel = h('div', { class: 'vw-3d', 'data-panel': '3d' },
      h('div', { class: 'vw-3d-head' }, h('strong', {}, '3D masks'), h('span', { class: 'grow' }),
        h('button', { type: 'button', class: 'icon', title: 'Close the 3D view (G)', 'data-action': 'close-3d', onclick: () => this.toggle(false) }, '×')),
      this.canvas, this.info)
  }

  _clear() {
    for (const m of this.meshes) this.nv?.removeMesh(m)
    this.meshes = []
  }

  /** Surfaces and counts of every visible target, now. */
  rebuild() {
    clearTimeout(this.timer)
    if (!this.on || !this.nv?.gl) return
    const { grid, targets, active } = this.app
    const t0 = performance.now()
    const affine = grid.rasAffine()
    this._clear()
    this.stats = []
    for (const t of targets) {
      if (!t.visible || !t.mask || !t.count) continue
      const box = t.extent
      const surface = voxelSurface(t.mask, grid.rasDims, box, affine)
      const shape = topology(t.mask, grid.rasDims, box)
      this.stats.push({ id: t.id, faces: surface.faces, pieces: shape.pieces, sizes: shape.sizes.slice(0, 5), cavities: shape.cavities, cavityVoxels: shape.cavityVoxels })
      if (!surface.faces) continue
      const rgba = Uint8Array.from([...hexToRgb(t.color), 255])
      const mesh = new NVMesh(surface.positions, surface.triangles, `target-${t.id}`, rgba, t.id === active ? 1 : 0.6, true, this.nv.gl)
      this.nv.addMesh(mesh)
      this.meshes.push(mesh)
    }
    this.nv.drawScene()
    this.builds++
    this.ms = performance.now() - t0
    this._describe()
  }

  _describe() {
    const lines = this.stats.map((s) => {
      const t = this.app.target(s.id)
      const pieces = s.pieces === 1 ? '1 piece' : `${s.pieces} pieces`
      const holes = s.cavities ? ` · ${s.cavities} hole${s.cavities > 1 ? 's' : ''}` : ''
      return h('div', { class: s.pieces > 1 || s.cavities ? 'warn' : '', 'data-target': String(s.id) },
        h('span', { class: 'swatch', style: { background: t?.color } }), ` ${t?.displayName || t?.label || s.id}: ${pieces}${holes}`)
    })
    this.info.replaceChildren(...(lines.length ? lines : [h('div', { class: 'muted' }, 'No mask to show.')]))
  }

  state() {
    return { on: this.on, builds: this.builds, ms: this.ms ?? null, targets: this.on ? this.stats : [] }
  }
}
