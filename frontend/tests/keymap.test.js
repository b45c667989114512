import assert from 'node:assert/strict'
import { test } from 'node:test'
import { compile, helpGroups, KEYMAP, keysLabel, label, match, parseSpec, shortcut, titled } from '../src/keymap.js'
import { ACTIONS } from '../src/input.js'
import { CT_PRESETS } from '../src/presets.js'

const key = (k, o = {}) => ({ key: k, code: o.code ?? '', ctrlKey: !!o.ctrl, metaKey: !!o.meta, shiftKey: !!o.shift, altKey: !!o.alt })
const hit = (e) => {
  const b = match(e)
  return b && [b.action, b.arg]
}

test('every action in the table has a handler', () => {
  for (const row of KEYMAP) for (const [spec, action] of row.keys) assert.equal(typeof ACTIONS[action], 'function', `${spec} → ${action}`)
})

test('no two bindings take the same key', () => {
  const seen = new Set()
  for (const b of compile()) {
    const id = `${b.ctrl}|${b.shift}|${b.code || b.key}`
    assert.ok(!seen.has(id), `${b.spec} is bound twice`)
    seen.add(id)
  }
})

test('letters match either case, with or without Shift', () => {
  assert.deepEqual(hit(key('k')), ['jumpToKey', undefined])
  assert.deepEqual(hit(key('K', { shift: true })), ['jumpToKey', undefined])
  assert.deepEqual(hit(key('d')), ['tool', 'brush'])
  assert.deepEqual(hit(key('?', { shift: true })), ['help', undefined])
  assert.equal(hit(key('q')), null)
})

test('Ctrl combinations: Shift picks redo; Alt or Ctrl alone do not trigger plain keys', () => {
  assert.deepEqual(hit(key('z', { ctrl: true })), ['undo', undefined])
  assert.deepEqual(hit(key('Z', { ctrl: true, shift: true })), ['redo', undefined])
  assert.deepEqual(hit(key('y', { meta: true })), ['redo', undefined])
  assert.deepEqual(hit(key('S', { ctrl: true, shift: true })), ['save', undefined])
  assert.equal(hit(key('k', { ctrl: true })), null)
  assert.equal(hit(key('k', { alt: true })), null)
  assert.equal(hit(key('z')), null)
})

test('Shift+digit is a window preset by key code; the digit alone is a layout', () => {
  assert.deepEqual(hit(key('!', { shift: true, code: 'Digit1' })), ['preset', 0])
  assert.deepEqual(hit(key('%', { shift: true, code: 'Digit5' })), ['preset', 4])
  assert.deepEqual(hit(key('3', { code: 'Digit3' })), ['layout', 'sagittal'])
  assert.equal(hit(key('^', { shift: true, code: 'Digit6' })), null)
})

test('arrows keep matching with Shift (5 slices at a time)', () => {
  assert.deepEqual(hit(key('ArrowUp', { shift: true })), ['scroll', 1])
  assert.deepEqual(hit(key('PageDown')), ['scroll', -1])
  assert.deepEqual(hit(key(' ')), ['togglePlay', undefined])
})

test('specs parse and read back as the help shows them', () => {
  assert.deepEqual(parseSpec('Ctrl+Shift+Z'), { ctrl: true, shift: true, key: 'z' })
  assert.deepEqual(parseSpec('Shift+3'), { ctrl: false, shift: true, code: 'Digit3' })
  assert.deepEqual(parseSpec('Space'), { ctrl: false, shift: false, key: ' ' })
  assert.equal(label('Ctrl+Shift+Z'), 'Ctrl+Shift+Z')
  assert.equal(label('Shift+2'), 'Shift+2')
  assert.equal(label('ArrowLeft'), '←')
  assert.equal(label('Escape'), 'Esc')
  assert.equal(label('Space'), 'Space')
  assert.equal(label(','), ',')
})

test('runs of consecutive digits are shortened, other keys listed', () => {
  assert.equal(keysLabel(['Shift+1', 'Shift+2', 'Shift+3']), 'Shift+1 … Shift+3')
  assert.equal(keysLabel(['1', '2', '3', '4']), '1 … 4')
  assert.equal(keysLabel(['1', '2']), '1 / 2')
  assert.equal(keysLabel(['1', '3', '4']), '1 / 3 / 4')
  assert.equal(keysLabel(['Shift+1', '2', '3']), 'Shift+1 / 2 / 3')
  assert.equal(keysLabel(['Ctrl+Z', 'Ctrl+Shift+Z']), 'Ctrl+Z / Ctrl+Shift+Z')
})

test('the help lists every binding of the table, grouped, with its mouse gesture', () => {
  const groups = helpGroups()
  assert.deepEqual(groups.map(([g]) => g), ['Navigation', 'Image', 'AI assist', 'Correction', 'Measure', 'Case'])
  const rows = groups.flatMap(([, r]) => r)
  assert.equal(rows.length, KEYMAP.length)
  const text = rows.map(([keys]) => keys).join(' / ')
  // digit keys read as runs ('1 … 4'), every other key by its name
  for (const b of compile()) if (!/\d$/.test(b.spec)) assert.ok(text.includes(label(b.spec)), `${b.spec} missing from the help`)
  assert.ok(rows.some(([keys, what]) => keys === 'Shift+1 … Shift+5' && what.startsWith('CT presets')))
  assert.ok(rows.some(([keys, what]) => keys === '1 … 4' && what.startsWith('axial')))
  assert.deepEqual(rows[0], ['Wheel, ↑ / ↓ / PgUp / PgDn', 'previous / next slice (Shift: 5 at a time)'])
  assert.deepEqual(rows.find(([, what]) => what === 'undo / redo'), ['Ctrl+Z / Ctrl+Shift+Z / Ctrl+Y', 'undo / redo'])
})

test('the preset keys and their help come from the CT presets (inference/ct_windows.json), in order', () => {
  const row = KEYMAP.find((r) => r.keys.some(([, action]) => action === 'preset'))
  assert.deepEqual(row.keys, CT_PRESETS.map((_, i) => [`Shift+${i + 1}`, 'preset', i]))
  // For today's file: the same keys and help as when they were written out by hand.
  assert.deepEqual(row.keys, [['Shift+1', 'preset', 0], ['Shift+2', 'preset', 1], ['Shift+3', 'preset', 2], ['Shift+4', 'preset', 3], ['Shift+5', 'preset', 4]])
  const image = new Map(helpGroups()).get('Image')
  assert.ok(image.some(([keys, what]) => keys === 'Shift+1 … Shift+5' && what === 'CT presets: abdomen, lung, brain, mediastinum, bone'))
})

test('zoom, pan, fit and the ruler keys (issue #16)', () => {
  assert.deepEqual(hit(key('=')), ['zoom', 1])
  assert.deepEqual(hit(key('+', { shift: true })), ['zoom', 1])
  assert.deepEqual(hit(key('-')), ['zoom', -1])
  assert.deepEqual(hit(key('0', { code: 'Digit0' })), ['fit', undefined])
  assert.deepEqual(hit(key('ArrowLeft', { ctrl: true })), ['pan', [-1, 0]])
  assert.deepEqual(hit(key('ArrowLeft')), ['stepFrame', -1]) // without Ctrl: a frame (clips)
  assert.deepEqual(hit(key('r')), ['tool', 'ruler'])
  assert.deepEqual(hit(key('R', { shift: true })), ['clearRulers', undefined])
})

test('toolbar titles read their keys from the table', () => {
  assert.equal(shortcut('tool', 'brush'), 'D')
  assert.equal(shortcut('redo'), 'Ctrl+Shift+Z / Ctrl+Y')
  assert.equal(shortcut('layout', 'multi'), '4')
  assert.equal(shortcut('preset', 2), 'Shift+3')
  assert.equal(shortcut('pan', [0, 1]), 'Ctrl+↓')
  assert.equal(titled('Ruler', 'tool', 'ruler'), 'Ruler (R)')
  assert.equal(titled('Nothing', 'noSuchAction'), 'Nothing')
  // every tool button of the toolbar has a key in the table
  for (const tool of ['navigate', 'wl', 'ruler', 'box', 'point+', 'point-', 'brush', 'eraser', 'fill']) assert.ok(shortcut('tool', tool), tool)
})
