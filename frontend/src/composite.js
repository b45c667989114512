// The drawing layer NiiVue shows: one value per voxel, computed from the targets' masks for the
// current display (pure; tests/composite.test.js). Targets use their slot (1..N) as the value.

import { hexToRgb } from './dom.js'
import { unionBox } from './maskops.js'

// Values for the review difference.
export const DIFF = { SAME: 251, ADDED: 252, REMOVED: 253 }

/**
 * voxel index → drawing value. `display`: 'submitted' (every visible target, the active one on
 * top where they overlap), 'model' (the active target's model mask) or 'diff' (active target:
 * both, added by the annotator, removed by the annotator).
 */
export function layerFn({ masksOn, display = 'submitted', targets, active }) {
  if (!masksOn) return () => 0
  if (display !== 'submitted') {
    const t = targets.find((x) => x.id === active)
    if (!t) return () => 0
    const mine = t.mask, model = t.model
    if (display === 'model') return (i) => (model && model[i] ? t.slot : 0)
    return (i) => {
      const a = mine && mine[i], b = model && model[i]
      return a && b ? DIFF.SAME : a ? DIFF.ADDED : b ? DIFF.REMOVED : 0
    }
  }
  const order = targets.filter((t) => t.visible && t.mask)
  order.sort((a, b) => (b.id === active) - (a.id === active))
  const masks = order.map((t) => t.mask)
  const slots = order.map((t) => t.slot)
  return (i) => {
    for (let k = 0; k < masks.length; k++) if (masks[k][i]) return slots[k]
    return 0
  }
}

/** Write `layer` into `comp` (RAS, x fastest) over an inclusive box [x0, y0, z0, x1, y1, z1]. */
export function fillBox(comp, dims, box, layer) {
  const [nx, ny] = dims
  for (let z = box[2]; z <= box[5]; z++) {
    for (let y = box[1]; y <= box[4]; y++) {
      let i = (z * ny + y) * nx + box[0]
      for (let x = box[0]; x <= box[3]; x++, i++) comp[i] = layer(i)
    }
  }
}

/** The box a full refresh must cover: every target's (and model mask's) extent, and `last`. */
export function fullBox(targets, last) {
  let box = null
  for (const t of targets) box = unionBox(box, t.extent)
  for (const t of targets) box = unionBox(box, t.model ? t.modelExtent : null)
  return unionBox(box, last || null)
}

/** Lookup-table colours: each target's, the active target's for "both", green/magenta for the diff. */
export function layerColors(targets, active) {
  const colors = {}
  for (const t of targets) colors[t.slot] = [...hexToRgb(t.color), 255]
  colors[DIFF.SAME] = [...(active ? hexToRgb(active.color) : [255, 200, 0]), 255]
  colors[DIFF.ADDED] = [40, 220, 90, 255]
  colors[DIFF.REMOVED] = [240, 40, 200, 255]
  return colors
}
