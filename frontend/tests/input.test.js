// The key handler with a recording stand-in for the app: which action runs, and when the
// browser's default is prevented (Escape keeps it, typing in a text field is not a shortcut).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Input } from '../src/input.js'

function fakeApp({ video = false, presets = 5 } = {}) {
  const calls = []
  const app = {
    calls, isVideo: video, active: 7, brushSize: 10, opacity: 0.5, targets: [{ id: 3 }, { id: 7 }, { id: 9 }],
    presets: () => Array.from({ length: presets }, (_, i) => ({ key: `p${i}` })),
    activity: { touch: (id) => calls.push(['touch', id]) },
    view: { scroll: (view, n) => calls.push(['scroll', view, n]) },
    focusView: () => 0,
    setBrush: (n) => calls.push(['brush', n]),
    setOpacity: (o) => calls.push(['opacity', Math.round(o * 10) / 10]),
    applyPreset: (p) => calls.push(['preset', p.key]),
    selectTarget: (id) => calls.push(['select', id]),
    setTool: (t) => calls.push(['tool', t]),
    player: { toggle: () => calls.push(['play']), step: (n) => calls.push(['frame', n]) },
    assist: { clearPending: () => calls.push(['clearPending']) },
    ui: { closeDialogs: () => calls.push(['closeDialogs']), drawOverlay: () => {} },
  }
  app.input = new Input(app)
  return app
}

function press(app, key, o = {}) {
  let prevented = false
  const e = {
    key, code: o.code ?? '', ctrlKey: false, metaKey: false, altKey: false, shiftKey: !!o.shift,
    target: { closest: (sel) => (o.inField && sel.includes('textarea') ? {} : null) },
    preventDefault: () => { prevented = true },
  }
  app.calls.length = 0
  app.input.keyDown(e)
  return { prevented, calls: app.calls.filter(([c]) => c !== 'touch'), touched: app.calls.some(([c]) => c === 'touch') }
}

test('a shortcut runs its action, prevents the default and counts as activity', () => {
  const app = fakeApp()
  assert.deepEqual(press(app, 'e'), { prevented: true, calls: [['tool', 'eraser']], touched: true })
  assert.deepEqual(press(app, 'ArrowDown', { shift: true }).calls, [['scroll', 0, -5]])
  assert.deepEqual(press(app, ']').calls, [['brush', 12]])
  assert.deepEqual(press(app, ',').calls, [['opacity', 0.4]])
})

test('Tab cycles targets; Shift+Tab goes back', () => {
  const app = fakeApp()
  assert.deepEqual(press(app, 'Tab').calls, [['select', 9]])
  assert.deepEqual(press(app, 'Tab', { shift: true }).calls, [['select', 3]])
})

test('clip keys do nothing (and keep the default) outside clips', () => {
  assert.deepEqual(press(fakeApp(), ' '), { prevented: false, calls: [], touched: false })
  assert.deepEqual(press(fakeApp({ video: true }), 'ArrowLeft').calls, [['frame', -1]])
})

test('a preset the modality lacks is taken but does nothing', () => {
  assert.deepEqual(press(fakeApp({ presets: 0 }), '!', { shift: true, code: 'Digit1' }), { prevented: false, calls: [], touched: false })
  assert.deepEqual(press(fakeApp(), '@', { shift: true, code: 'Digit2' }).calls, [['preset', 'p1']])
})

test('typing in a text field is no shortcut, except Escape, which keeps its default', () => {
  assert.deepEqual(press(fakeApp(), 'e', { inField: true }).calls, [])
  const esc = press(fakeApp(), 'Escape', { inField: true })
  assert.deepEqual(esc, { prevented: false, calls: [['clearPending'], ['closeDialogs']], touched: false })
})
