// The bar above the image: layouts, window presets, tools, brush size, undo/redo, masks and
// opacity, save status, Save and help. Rebuilt whenever one of them changes.

import { h } from './dom.js'
import { BRUSH_MAX, saveStatus } from './state.js'

const LAYOUTS = [['axial', 'Axial', '1'], ['coronal', 'Coronal', '2'], ['sagittal', 'Sagittal', '3'], ['multi', '3 views', '4']]
const VIEW_TOOLS = [['navigate', '✥', 'Navigate (V)'], ['wl', '◐', 'Window/level drag (W)']]
const EDIT_TOOLS = [
  ['box', '▭ Box', 'AI box (B)'], ['point+', '+ Point', 'Positive point (P)'], ['point-', '− Point', 'Negative point (O)'],
  ['brush', '✎ Brush', 'Brush (D)'], ['eraser', '⌫ Eraser', 'Eraser (E)'], ['fill', '▨ Fill', 'Fill a closed outline (F)'],
]

const btn = (label, title, on, handler, attrs = {}) =>
  h('button', { type: 'button', class: on ? 'on' : '', title, onclick: handler, ...attrs }, label)

/** The toolbar's children for the app's current state. */
export function toolbarContent(app, statusEl) {
  const annotate = app.mode === 'annotate'
  const layouts = app.isVideo ? [] : LAYOUTS
  const tools = annotate ? [...VIEW_TOOLS, ...EDIT_TOOLS] : VIEW_TOOLS
  const presets = app.presets()
  const w = app.view.window
  const select = h('select', { 'aria-label': 'window preset', onchange: (e) => { const p = presets.find((x) => x.key === e.target.value); if (p) app.applyPreset(p) } },
    h('option', { value: '' }, presets.length ? 'Window…' : 'Window'),
    ...presets.map((p, i) => h('option', { value: p.key }, `${p.name} (Shift+${i + 1})`)))
  return [
    layouts.length ? h('div', { class: 'grp' }, ...layouts.map(([name, label, key]) => btn(label, `${label} (${key})`, app.layout === name, () => app.setLayout(name), { 'data-layout': name }))) : '',
    h('div', { class: 'grp' }, select, h('span', { class: 'wl', title: 'window level / width' }, `L ${Math.round(w.center)} W ${Math.round(w.width)}`)),
    h('div', { class: 'grp tools' }, ...tools.map(([name, label, title]) => btn(label, title, app.tool === name, () => app.setTool(name), { 'data-tool': name }))),
    annotate ? h('div', { class: 'grp' },
      h('label', { title: 'Brush size ([ and ])' }, 'Size ', h('input', { type: 'range', min: '1', max: String(BRUSH_MAX), value: String(app.brushSize), 'data-control': 'brush', oninput: (e) => app.setBrush(Number(e.target.value)) }), h('span', { class: 'num' }, String(app.brushSize))),
      btn('↶', 'Undo (Ctrl+Z)', false, () => app.masks.undo(), { 'data-action': 'undo', disabled: !app.history.canUndo }),
      btn('↷', 'Redo (Ctrl+Shift+Z)', false, () => app.masks.redo(), { 'data-action': 'redo', disabled: !app.history.canRedo }),
      btn('Clear slice', 'Clear the target on this slice (X)', false, () => app.masks.clearSlice(), { 'data-action': 'clear' })) : '',
    h('div', { class: 'grp' },
      btn(app.masksOn ? 'Masks on' : 'Masks off', 'Show / hide masks (M)', app.masksOn, () => app.toggleMasks(), { 'data-action': 'masks' }),
      h('input', { type: 'range', min: '0', max: '100', value: String(Math.round(app.opacity * 100)), title: 'Mask opacity (, and .)', 'data-control': 'opacity', oninput: (e) => app.setOpacity(Number(e.target.value) / 100) })),
    h('div', { class: 'grp right' }, statusEl,
      annotate ? btn('Save', 'Save now (Ctrl+S)', false, () => app.saving.saveAll(), { 'data-action': 'save', class: 'primary' }) : '',
      btn('?', 'Keyboard shortcuts (?)', false, () => app.ui.toggleHelp(), { 'data-action': 'help' })),
  ]
}

/** The save status (text, class, data-state) and the undo/redo buttons' state. */
export function updateStatus(app, statusEl, toolbar) {
  const { text, cls } = saveStatus(app.mode, app.targets)
  statusEl.textContent = text
  statusEl.className = `vw-save ${cls}`
  statusEl.dataset.state = cls
  const undo = toolbar.querySelector('[data-action=undo]')
  if (undo) undo.disabled = !app.history.canUndo
  const redo = toolbar.querySelector('[data-action=redo]')
  if (redo) redo.disabled = !app.history.canRedo
}
