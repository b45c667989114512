// The keyboard: one table. The key handler matches events against it and the help overlay (`?`)
// is generated from it, so the help cannot drift from what the keys do.
//
// A row: { group, what, keys: [[spec, action, arg], ...], mouse?, when?, inFields?, prevent? }
//   spec     'K' (a letter, either case), '[', 'ArrowUp', 'Space', 'Ctrl+Z', 'Shift+1' (the
//            digit key, by its code, so any keyboard layout), 'Ctrl+Shift+Z'.
//   action   the name of an App action; `arg` is passed to it with the event.
//   mouse    mouse gestures shown before the keys in the help ('Wheel').
//   when     (ctx, arg) → false: the key is taken but does nothing (no video, no such preset).
//   inFields the key works while typing in a text field (Escape).
//   prevent  false: the browser's default is kept and the key is not activity (Escape).

import { CT_PRESETS } from './presets.js'

const layout = (n, name) => [String(n), 'layout', name]
const preset = (n) => [`Shift+${n}`, 'preset', n - 1]
const video = (ctx) => ctx.video

export const KEYMAP = [
  { group: 'Navigation', what: 'previous / next slice (Shift: 5 at a time)', mouse: 'Wheel',
    keys: [['ArrowUp', 'scroll', 1], ['ArrowDown', 'scroll', -1], ['PageUp', 'scroll', 1], ['PageDown', 'scroll', -1]] },
  { group: 'Navigation', what: 'zoom in / out (at the cursor with the wheel)', mouse: 'Ctrl+Wheel',
    keys: [['=', 'zoom', 1], ['+', 'zoom', 1], ['-', 'zoom', -1]] },
  { group: 'Navigation', what: 'pan', mouse: 'Middle-drag', keys: [['Ctrl+ArrowLeft', 'pan', [-1, 0]],
    ['Ctrl+ArrowRight', 'pan', [1, 0]], ['Ctrl+ArrowUp', 'pan', [0, -1]], ['Ctrl+ArrowDown', 'pan', [0, 1]]] },
  { group: 'Navigation', what: 'fit: reset zoom and pan', keys: [['0', 'fit']] },
  { group: 'Navigation', what: 'jump to the target’s key slice', keys: [['K', 'jumpToKey']] },
  { group: 'Navigation', what: 'axial, coronal, sagittal, all three views',
    keys: [layout(1, 'axial'), layout(2, 'coronal'), layout(3, 'sagittal'), layout(4, 'multi')] },
  { group: 'Navigation', what: 'next target (Shift: previous)', keys: [['Tab', 'cycleTarget']] },
  { group: 'Navigation', what: 'play / pause (echo clips)', when: video, keys: [['Space', 'togglePlay']] },
  { group: 'Navigation', what: 'previous / next frame (echo clips)', when: video,
    keys: [['ArrowLeft', 'stepFrame', -1], ['ArrowRight', 'stepFrame', 1]] },
  { group: 'Image', what: 'window / level: drag (horizontal width, vertical level)', mouse: 'Right-drag',
    keys: [['W', 'tool', 'wl']] },
  // Shift+1… in the order of inference/ct_windows.json, the one list of presets.
  { group: 'Image', what: `CT presets: ${CT_PRESETS.map((p) => p.key).join(', ')}`, when: (ctx, i) => i < ctx.presets,
    keys: CT_PRESETS.map((_, i) => preset(i + 1)) },
  { group: 'Image', what: 'show / hide masks', keys: [['M', 'toggleMasks']] },
  { group: 'Image', what: 'mask opacity down / up', keys: [[',', 'opacity', -0.1], ['.', 'opacity', 0.1]] },
  { group: 'AI assist', what: 'box tool: drag a box on the slice → pre-segmentation', keys: [['B', 'tool', 'box']] },
  { group: 'AI assist', what: 'positive / negative point', keys: [['P', 'tool', 'point+'], ['O', 'tool', 'point-']] },
  { group: 'AI assist', what: 'run the model with the points and box on this slice', keys: [['Enter', 'runPending']] },
  { group: 'Correction', what: 'brush / eraser', keys: [['D', 'tool', 'brush'], ['E', 'tool', 'eraser']] },
  { group: 'Correction', what: 'brush size smaller / larger', keys: [['[', 'brush', -1], [']', 'brush', 1]] },
  { group: 'Correction', what: 'fill: click inside a closed outline', keys: [['F', 'tool', 'fill']] },
  { group: 'Correction', what: 'lasso: drag an outline, or click corners then the first again; fills it (Shift: erases)', keys: [['L', 'tool', 'lasso']] },
  { group: 'Correction', what: 'threshold brush on / off: paint only intensities in the range', keys: [['T', 'toggleThreshold']] },
  { group: 'Correction', what: 'interpolate the slices between the last two edited ones', keys: [['I', 'interpolate']] },
  { group: 'Correction', what: '3D view of the masks: pieces and holes', keys: [['G', 'toggle3D']] },
  { group: 'Correction', what: 'clear the target on this slice', keys: [['X', 'clearSlice']] },
  { group: 'Navigation', what: 'navigate: click sets the crosshair of all three views', keys: [['V', 'tool', 'navigate']] },
  { group: 'Correction', what: 'undo / redo',
    keys: [['Ctrl+Z', 'undo'], ['Ctrl+Shift+Z', 'redo'], ['Ctrl+Y', 'redo']] },
  { group: 'Measure', what: 'ruler: drag a distance on a slice (mm)', keys: [['R', 'tool', 'ruler']] },
  { group: 'Measure', what: 'remove the rulers', keys: [['Shift+R', 'clearRulers']] },
  { group: 'Case', what: 'save now (changes also save automatically)', keys: [['Ctrl+S', 'save']] },
  { group: 'Case', what: 'next case (saves first)', keys: [['N', 'nextCase']] },
  { group: 'Case', what: 'this help', keys: [['?', 'help'], ['H', 'help']] },
  { group: 'Case', what: 'close dialogs, cancel the box being drawn', inFields: true, prevent: false,
    keys: [['Escape', 'escape']] },
]

const NAMES = { ArrowUp: '↑', ArrowDown: '↓', ArrowLeft: '←', ArrowRight: '→', PageUp: 'PgUp', PageDown: 'PgDn', Escape: 'Esc' }

/** 'Ctrl+Shift+Z' → { ctrl: true, shift: true, key: 'z' } (letters lower-case) or code for digits. */
export function parseSpec(spec) {
  const plus = spec.endsWith('+') // the '+' key itself: '+', 'Ctrl++'
  const parts = (plus ? spec.slice(0, -1) : spec).split('+').filter(Boolean)
  const name = plus ? '+' : parts.pop()
  const ctrl = parts.includes('Ctrl')
  const shift = parts.includes('Shift')
  // Shift+digit is matched by the key's code: the character it types depends on the layout.
  if (shift && /^\d$/.test(name)) return { ctrl, shift, code: `Digit${name}` }
  const key = name === 'Space' ? ' ' : name.length === 1 ? name.toLowerCase() : name
  return { ctrl, shift, key }
}

/**
 * The bindings of a table in match order: those that name Shift first, so Ctrl+Shift+Z wins
 * over Ctrl+Z and Shift+1 over 1; a binding that does not name Shift ignores it (Shift+↑ is
 * still ↑, five slices at a time).
 */
export function compile(table = KEYMAP) {
  const out = []
  for (const row of table) for (const [spec, action, arg] of row.keys) out.push({ ...parseSpec(spec), spec, action, arg, row })
  return out.sort((a, b) => b.shift - a.shift)
}

const COMPILED = compile()

/** The binding a keydown event (key, code, ctrlKey, metaKey, shiftKey, altKey) triggers, or null. */
export function match(e, bindings = COMPILED) {
  const ctrl = e.ctrlKey || e.metaKey
  if (!ctrl && e.altKey) return null
  const key = e.key?.length === 1 ? e.key.toLowerCase() : e.key
  for (const b of bindings) {
    if (b.ctrl !== ctrl || (b.shift && !e.shiftKey)) continue
    if (b.code ? b.code === e.code : b.key === key) return b
  }
  return null
}

/** How a spec reads in the help: 'Ctrl+Shift+Z', '↑', 'Space'. */
export function label(spec) {
  const { ctrl, shift, key, code } = parseSpec(spec)
  const name = code ? code.slice(5) : key === ' ' ? 'Space' : NAMES[key] || (key.length === 1 ? key.toUpperCase() : key)
  return `${ctrl ? 'Ctrl+' : ''}${shift ? 'Shift+' : ''}${name}`
}

/** A row's keys as the help shows them; a run of 3+ consecutive digits reads 'Shift+1 … Shift+5'. */
export function keysLabel(specs) {
  const names = specs.map(label)
  const digit = (name) => Number(/\d$/.exec(name)?.[0])
  const run = names.length >= 3 && names.every((n, i) => n.slice(0, -1) === names[0].slice(0, -1) && digit(n) === digit(names[0]) + i)
  return run ? `${names[0]} … ${names.at(-1)}` : names.join(' / ')
}

/** [[group, [[keys, what], ...]], ...] in table order, for the help overlay. */
export function helpGroups(table = KEYMAP) {
  const groups = new Map()
  for (const row of table) {
    const keys = keysLabel(row.keys.map(([spec]) => spec))
    if (!groups.has(row.group)) groups.set(row.group, [])
    groups.get(row.group).push([row.mouse ? `${row.mouse}, ${keys}` : keys, row.what])
  }
  return [...groups]
}

/** The keys of an action (and argument) as the help shows them, '' if none: toolbar titles. */
export function shortcut(action, arg, table = KEYMAP) {
  const same = (a, b) => a === b || JSON.stringify(a) === JSON.stringify(b)
  const specs = []
  for (const row of table) for (const [spec, act, a] of row.keys) if (act === action && same(a, arg)) specs.push(spec)
  return specs.length ? keysLabel(specs) : ''
}

/** 'Brush (D)': a title with its keys from the table. */
export const titled = (text, action, arg) => {
  const keys = shortcut(action, arg)
  return keys ? `${text} (${keys})` : text
}
