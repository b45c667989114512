// Measuring in the viewer: the distance ruler (`R`: drag on a slice; the length in mm from the
// image's voxel spacing) and each target's figures (volume in mL; on its key slice the longest
// diameter and the perpendicular short axis, RECIST-style), recomputed as the mask changes.
// The rules are measure.js (pure, the same as the server's annotations/measure.py).

import { NORMAL_AXIS } from './grid.js'
import { formatMl, formatMm, measureTarget, rulerMm } from './measure.js'

export class Measuring {
  constructor(app) {
    this.app = app
    this.rulers = [] // { view, a, b (RAS voxels), mm }
    this.drawing = null // the ruler being dragged
    this.cache = new Map() // target id → { key, figures }
  }

  // ---------------------------------------------------------------- ruler

  start(p) {
    this.drawing = { view: p.view, a: p.vox, b: p.vox, mm: 0 }
  }

  move(p) {
    const r = this.drawing
    if (!r || !p || p.view !== r.view) return
    r.b = p.vox
    r.mm = this.length(r.a, r.b)
    this.app.ui.drawOverlay()
  }

  end() {
    const r = this.drawing
    this.drawing = null
    if (r && r.mm > 0) this.rulers.push(r)
    this.app.ui.drawOverlay()
    return r
  }

  /** Length in mm between two RAS voxel positions, through the image's affine. */
  length(a, b) {
    const { grid } = this.app
    return rulerMm(grid.toNativeCoord(a), grid.toNativeCoord(b), grid.affine)
  }

  cancel() {
    this.drawing = null
  }

  clear() {
    this.rulers = []
    this.drawing = null
    this.app.ui.drawOverlay()
  }

  // ---------------------------------------------------------------- targets

  /** A target's figures (measure.js), cached until its mask or key slice changes. */
  of(t) {
    if (!t) return null
    const key = `${t.version}:${t.keyIndex}:${t.mask ? 1 : 0}`
    const hit = this.cache.get(t.id)
    if (hit?.key === key) return hit.figures
    const figures = measureTarget(t.mask, t.count, this.app.grid, t.keyIndex, t.extent)
    this.cache.set(t.id, { key, figures })
    return figures
  }

  /** The side panel's line for a target: '12.3 mL · 45.0 × 30.2 mm'. */
  summary(t) {
    if (!this.app.grid) return ''
    const f = this.of(t)
    if (!f || !t.count) return ''
    const axes = f.longMm == null ? 'no mask on the key slice' : `${formatMm(f.longMm)} × ${formatMm(f.shortMm)}`
    return this.app.isVideo ? axes : `${formatMl(f.volumeMl)} · ${axes}`
  }

  // ---------------------------------------------------------------- on the overlay

  draw(ctx) {
    const { view, grid } = this.app
    const views = view.visibleViews()
    const line = (a, b, plane, color, dash, text) => {
      const pa = view.toScreen(a, plane), pb = view.toScreen(b, plane)
      if (!pa || !pb) return
      ctx.setLineDash(dash)
      ctx.strokeStyle = color
      ctx.lineWidth = 1.5
      ctx.beginPath()
      ctx.moveTo(...pa)
      ctx.lineTo(...pb)
      ctx.stroke()
      for (const p of [pa, pb]) ctx.fillRect(p[0] - 2, p[1] - 2, 4, 4)
      if (text) {
        ctx.font = '12px system-ui, sans-serif'
        ctx.lineWidth = 3
        ctx.strokeStyle = '#000'
        ctx.setLineDash([])
        const at = [(pa[0] + pb[0]) / 2 + 6, (pa[1] + pb[1]) / 2 - 6]
        ctx.strokeText(text, ...at)
        ctx.fillText(text, ...at)
      }
    }
    for (const r of [...this.rulers, this.drawing].filter(Boolean)) {
      const axis = NORMAL_AXIS[r.view]
      if (!views.includes(r.view) || Math.round(r.a[axis]) !== view.vox[axis]) continue
      ctx.fillStyle = '#fde047'
      line(r.a, r.b, r.view, '#fde047', [], formatMm(r.mm))
    }
    // The active target's axes on its key slice.
    const t = this.app.current
    const plane = grid.keyView()
    if (!t || !views.includes(plane) || Math.round(grid.toNativeCoord(view.vox)[2]) !== t.keyIndex) return
    const f = this.of(t)
    if (!f?.longEnds) return
    const ras = ([x, y]) => grid.toRasCoord([x, y, t.keyIndex])
    ctx.fillStyle = '#fff'
    line(ras(f.longEnds[0]), ras(f.longEnds[1]), plane, '#ffffff', [], '')
    line(ras(f.shortEnds[0]), ras(f.shortEnds[1]), plane, '#ffffff', [4, 3], '')
  }

  /** For tests and benches: rulers in native coordinates with their lengths. */
  state() {
    const { grid } = this.app
    return this.rulers.map((r) => ({ view: r.view, a: grid.toNativeCoord(r.a), b: grid.toNativeCoord(r.b), mm: r.mm }))
  }
}
