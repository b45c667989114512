// The bar above the image: layouts, window presets, tools, brush size, undo/redo, masks and
// opacity, save status, Save and help. Rebuilt whenever one of them changes.

import { correctionControls, LASSO_TOOL } from './correction.js'
import { h } from './dom.js'
import { shortcut, titled } from './keymap.js'
import { presetInUse } from './readout.js'
import { BRUSH_MAX, saveStatus } from './state.js'

// Titles name their keys from the key map (keymap.js), the one table of shortcuts.
const LAYOUTS = [['axial', 'Axial'], ['coronal', 'Coronal'], ['sagittal', 'Sagittal'], ['multi', '3 views']]
const VIEW_TOOLS = [['navigate', '✥', 'Navigate'], ['wl', '◐', 'Window/level drag'], ['ruler', '↔', 'Ruler: drag a distance']]
const EDIT_TOOLS = [
  ['box', '▭ Box', 'AI box'], ['point+', '+ Point', 'Positive point'], ['point-', '− Point', 'Negative point'],
  ['brush', '✎ Brush', 'Brush'], ['eraser', '⌫ Eraser', 'Eraser'], ['fill', '▨ Fill', 'Fill a closed outline'],
]

const btn = (label, title, on, handler, attrs = {}) =>
  h('button', { type: 'button', class: on ? 'on' : '', title, onclick: handler, ...attrs }, label)

/** The toolbar's children for the app's current state. */
export function toolbarContent(app, statusEl) {
  const annotate = app.mode === 'annotate'
  const layouts = app.isVideo ? [] : LAYOUTS
  const tools = annotate ? [...VIEW_TOOLS, ...EDIT_TOOLS, LASSO_TOOL] : VIEW_TOOLS
  const presets = app.presets()
  const w = app.view.window
  const inUse = presetInUse(presets, w) // the menu shows the preset in use; a dragged window reads "Custom"
  const select = h('select', { 'aria-label': 'window preset', 'data-preset': inUse?.key ?? '', onchange: (e) => { const p = presets.find((x) => x.key === e.target.value); if (p) app.applyPreset(p) } },
    h('option', { value: '', selected: !inUse }, presets.length ? 'Custom window' : 'Window'),
    ...presets.map((p, i) => h('option', { value: p.key, selected: p === inUse }, titled(p.name, 'preset', i))))
  const zoom = app.viewport.state[3]
  return [
    layouts.length ? h('div', { class: 'grp' }, ...layouts.map(([name, label]) => btn(label, titled(label, 'layout', name), app.layout === name, () => app.setLayout(name), { 'data-layout': name }))) : '',
    h('div', { class: 'grp' }, select, h('span', { class: 'wl', title: 'window level / width' }, `L ${Math.round(w.center)} W ${Math.round(w.width)}`)),
    h('div', { class: 'grp' },
      btn('−', titled('Zoom out', 'zoom', -1), false, () => app.viewport.zoom(-1), { 'data-action': 'zoom-out' }),
      h('span', { class: 'num', 'data-zoom': String(zoom), title: 'zoom (Ctrl+wheel at the cursor)' }, `${Math.round(zoom * 100)}%`),
      btn('+', titled('Zoom in', 'zoom', 1), false, () => app.viewport.zoom(1), { 'data-action': 'zoom-in' }),
      btn('Fit', titled('Fit: reset zoom and pan', 'fit'), false, () => app.viewport.fit(), { 'data-action': 'fit' })),
    h('div', { class: 'grp tools' }, ...tools.map(([name, label, title]) => btn(label, titled(title, 'tool', name), app.tool === name, () => app.setTool(name), { 'data-tool': name }))),
    annotate ? h('div', { class: 'grp' },
      h('label', { title: `Brush size (${shortcut('brush', -1)} and ${shortcut('brush', 1)})` }, 'Size ', h('input', { type: 'range', min: '1', max: String(BRUSH_MAX), value: String(app.brushSize), 'data-control': 'brush', oninput: (e) => app.setBrush(Number(e.target.value)) }), h('span', { class: 'num' }, String(app.brushSize))),
      btn('↶', titled('Undo', 'undo'), false, () => app.masks.undo(), { 'data-action': 'undo', disabled: !app.history.canUndo }),
      btn('↷', titled('Redo', 'redo'), false, () => app.masks.redo(), { 'data-action': 'redo', disabled: !app.history.canRedo }),
      btn('Clear slice', titled('Clear the target on this slice', 'clearSlice'), false, () => app.masks.clearSlice(), { 'data-action': 'clear' })) : '',
    h('div', { class: 'grp' },
      btn(app.masksOn ? 'Masks on' : 'Masks off', titled('Show / hide masks', 'toggleMasks'), app.masksOn, () => app.toggleMasks(), { 'data-action': 'masks' }),
      h('input', { type: 'range', min: '0', max: '100', value: String(Math.round(app.opacity * 100)), title: `Mask opacity (${shortcut('opacity', -0.1)} and ${shortcut('opacity', 0.1)})`, 'data-control': 'opacity', oninput: (e) => app.setOpacity(Number(e.target.value) / 100) })),
    correctionControls(app),
    h('div', { class: 'grp right' }, statusEl,
      annotate ? btn('Save', titled('Save now', 'save'), false, () => app.saving.saveAll(), { 'data-action': 'save', class: 'primary' }) : '',
      btn('?', titled('Keyboard shortcuts', 'help'), false, () => app.ui.toggleHelp(), { 'data-action': 'help' })),
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
