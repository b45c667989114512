// Lasso and polygon fill on one slice: drag a closed freehand outline, or click its corners and
// click the first one again; the voxels whose centres lie inside are painted (Shift: erased).
// The geometry is pure (tests/lasso.test.js); LassoTool is the mouse glue.

import { NORMAL_AXIS, PLANE_AXES } from './grid.js'
import { IndexList } from './maskops.js'

/**
 * Fill a polygon on slice `index` of `view` (0 axial, 1 coronal, 2 sagittal) of a RAS uint8
 * mask. `polygon`: [[u, v], ...] in-plane voxel coordinates (fractional; the voxel (a, b) has
 * its centre at (a, b)), closed implicitly. Inside = non-zero winding, so a freehand loop that
 * crosses itself still fills what it encloses. Returns the flipped voxel indices.
 */
export function fillPolygon(mask, dims, view, index, polygon, value = 1) {
  const [u, v] = PLANE_AXES[view]
  const w = NORMAL_AXIS[view]
  const out = new IndexList()
  if (polygon.length < 3 || index < 0 || index >= dims[w]) return out.toArray()
  const steps = [1, dims[0], dims[0] * dims[1]]
  const base = index * steps[w]
  let vmin = Infinity, vmax = -Infinity
  for (const p of polygon) {
    vmin = Math.min(vmin, p[1])
    vmax = Math.max(vmax, p[1])
  }
  const b0 = Math.max(0, Math.ceil(vmin)), b1 = Math.min(dims[v] - 1, Math.floor(vmax))
  const crossings = []
  for (let b = b0; b <= b1; b++) {
    // Where each edge crosses the row's centre line, and in which direction (half-open rule:
    // a vertex on the line counts once).
    crossings.length = 0
    for (let k = 0; k < polygon.length; k++) {
      const [pu, pv] = polygon[k]
      const [qu, qv] = polygon[(k + 1) % polygon.length]
      if ((pv <= b) === (qv <= b)) continue
      crossings.push([pu + ((b - pv) / (qv - pv)) * (qu - pu), qv > pv ? 1 : -1])
    }
    crossings.sort((x, y) => x[0] - y[0])
    let winding = 0
    for (let c = 0; c < crossings.length - 1; c++) {
      winding += crossings[c][1]
      if (!winding) continue
      const a0 = Math.max(0, Math.ceil(crossings[c][0])), a1 = Math.min(dims[u] - 1, Math.floor(crossings[c + 1][0]))
      for (let a = a0; a <= a1; a++) {
        const i = base + a * steps[u] + b * steps[v]
        if (mask[i] !== value) {
          mask[i] = value
          out.push(i)
        }
      }
    }
  }
  return out.toArray()
}

/** The polygon's corners in the in-plane coordinates of `view` from RAS voxel points. */
export const inPlane = (view, points) => points.map((p) => [p[PLANE_AXES[view][0]], p[PLANE_AXES[view][1]]])

/** Is a freehand path a drag (a lasso) rather than a click (a polygon corner)? */
export function isDrag(points, minPixels = 4) {
  if (points.length < 3) return false
  const [x0, y0] = points[0]
  return points.some(([x, y]) => Math.hypot(x - x0, y - y0) >= minPixels)
}

/** The lasso tool: mouse handling and the outline drawn on the overlay while it is made. */
export class LassoTool {
  constructor(app) {
    this.app = app
    this.path = null // { view, index, vox: [[RAS]], screen: [[client x, y]], dragging, pressed, erase, t }
  }

  get active() {
    return !!this.path
  }

  /** Mouse down on a view at RAS voxel `p.vox` (client x, y). */
  down(p, x, y, erase) {
    const { app } = this
    const t = app.current
    if (!app.masks.editable(t)) return
    const index = app.view.vox[NORMAL_AXIS[p.view]]
    if (this.path && (this.path.view !== p.view || this.path.index !== index)) this.path = null
    if (this.path && !this.path.dragging) {
      // Polygon: a click near the first corner closes it; elsewhere adds a corner.
      const [fx, fy] = this.path.screen[0]
      if (this.path.vox.length >= 3 && Math.hypot(x - fx, y - fy) <= 8) return this.close()
      this.path.vox.push(p.vox)
      this.path.screen.push([x, y])
      this.path.pressed = true
      return this.app.ui.drawOverlay()
    }
    this.path = { view: p.view, index, vox: [p.vox], screen: [[x, y]], dragging: false, pressed: true, erase, t }
    app.ui.drawOverlay()
  }

  move(p, x, y) {
    const path = this.path
    if (!path?.pressed || !p || p.view !== path.view) return
    const [lx, ly] = path.screen.at(-1)
    if (Math.hypot(x - lx, y - ly) < 2) return
    path.vox.push(p.vox)
    path.screen.push([x, y])
    if (!path.dragging && isDrag(path.screen)) path.dragging = true
    this.app.ui.drawOverlay()
  }

  /** Mouse up: a drag closes the lasso; a click leaves a polygon corner placed. */
  up() {
    const path = this.path
    if (!path) return
    path.pressed = false
    if (path.dragging) this.close()
  }

  cancel() {
    this.path = null
    this.app.ui.drawOverlay()
  }

  close() {
    const path = this.path
    this.path = null
    this.app.ui.drawOverlay()
    if (!path || path.vox.length < 3) return
    const { app } = this
    if (!app.masks.editable(path.t)) return
    const flipped = fillPolygon(app.masks.of(path.t), app.grid.rasDims, path.view, path.index, inPlane(path.view, path.vox), path.erase ? 0 : 1)
    if (flipped.length) app.masks.commit(path.t, flipped, path.erase ? 'lasso erase' : 'lasso')
  }

  /** The outline on the overlay (CSS pixels of the stage). */
  draw(ctx) {
    const path = this.path
    if (!path) return
    ctx.save()
    ctx.setLineDash(path.dragging ? [] : [4, 3])
    ctx.lineWidth = 1.5
    ctx.strokeStyle = path.erase ? '#f472b6' : '#facc15'
    // From the voxels, so the outline stays put if the view moves meanwhile.
    const points = path.vox.map((v) => this.app.view.toScreen(v, path.view)).filter(Boolean)
    ctx.beginPath()
    points.forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y)))
    if (path.dragging) ctx.closePath()
    ctx.stroke()
    if (!path.dragging) {
      ctx.fillStyle = ctx.strokeStyle
      for (const [x, y] of points) ctx.fillRect(x - 2.5, y - 2.5, 5, 5)
    }
    ctx.restore()
  }
}
