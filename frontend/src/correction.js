// The toolbar's group for the correction tools: the threshold brush's range, interpolation
// between the last two edited slices, and the 3D view of the masks.

import { h } from './dom.js'
import { unitFor } from './threshold.js'

/** The lasso's entry in the toolbar's tool buttons. */
export const LASSO_TOOL = ['lasso', '◌ Lasso', 'Lasso / polygon: drag an outline, or click corners; fills it (Shift: erases)']

export function correctionControls(app) {
  const annotate = app.mode === 'annotate'
  const th = app.threshold
  const unit = unitFor(app.case?.image.modality)
  const field = (key, value) => h('input', {
    type: 'number', step: 'any', value: value ?? '', 'data-control': `threshold-${key}`, 'aria-label': `threshold ${key}`,
    oninput: (e) => th.set(key === 'min' ? e.target.value : th.lo, key === 'max' ? e.target.value : th.hi, { quiet: true }),
  })
  const pair = annotate ? app.interp.pair() : null
  const [a, b] = pair ? app.interp.nativePair(pair) : []
  return h('div', { class: 'grp correction' },
    annotate ? h('label', { class: `range${th.on ? '' : ' off'}`, title: 'Threshold brush (T): the brush paints only voxels whose intensity is in this range' },
      h('input', { type: 'checkbox', checked: th.on, 'data-control': 'threshold', onchange: (e) => th.toggle(e.target.checked) }),
      'Range', field('min', th.lo), '–', field('max', th.hi), unit) : '',
    annotate ? h('button', {
      type: 'button', 'data-action': 'interpolate', disabled: !pair, onclick: () => app.interp.run(),
      title: pair ? `Interpolate (I): fill slices ${a + 2}–${b} from slices ${a + 1} and ${b + 1}` : 'Interpolate (I): draw or correct two slices first, then fill the slices between',
    }, pair ? `⇕ ${a + 1}–${b + 1}` : '⇕ Interpolate') : '',
    h('button', { type: 'button', class: app.render3d.on ? 'on' : '', 'data-action': '3d', title: '3D view of the masks (G)', onclick: () => app.render3d.toggle() }, '3D'))
}
