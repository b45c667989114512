// The viewer's page: its layout, and the parts redrawn when the state changes. Code that changes
// state says which parts are stale (app.invalidate); they are redrawn once, in a microtask, so a
// burst of changes costs one redraw. Also toasts, dialogs, the busy note and the help overlay.

import { h } from './dom.js'
import { helpGroups, titled } from './keymap.js'
import { drawOverlay, sizeOverlay } from './overlay.js'
import { sideContent } from './sidebar.js'
import { toolbarContent, updateStatus } from './toolbar.js'

const PARTS = ['toolbar', 'side', 'status', 'hud']

export class Ui {
  constructor(app) {
    this.app = app
    this.stale = new Set()
  }

  /** The page's skeleton; the toolbar and side panel fill in once the case is known. */
  build(root, { mode, tool }) {
    root.innerHTML = ''
    root.classList.add('vw')
    root.dataset.mode = mode
    this.root = root
    this.toolbar = h('div', { class: 'vw-bar' })
    this.canvas = h('canvas', { id: 'gl', tabindex: '0' })
    this.overlay = h('canvas', { class: 'vw-overlay' })
    this.hud = h('div', { class: 'vw-hud' })
    this.busyEl = h('div', { class: 'vw-busy', hidden: true })
    this.stage = h('div', { class: 'vw-stage', dataset: { tool } }, this.canvas, this.overlay, this.hud, this.busyEl)
    this.player = h('div', { class: 'vw-player' },
      h('button', { class: 'play', type: 'button', title: titled('Play / pause', 'togglePlay') }, '▶'),
      h('input', { type: 'range', min: '0', max: '0', value: '0', 'aria-label': 'frame' }),
      h('span', { class: 'frame' }))
    this.side = h('aside', { class: 'vw-side' })
    this.statusEl = h('div', { class: 'vw-save', 'aria-live': 'polite' })
    this.toasts = h('div', { class: 'vw-toasts' })
    root.append(this.toolbar, h('div', { class: 'vw-body' }, h('div', { class: 'vw-main' }, this.stage, this.player), this.side), this.toasts)
  }

  /** Mark parts stale ('toolbar', 'side', 'status', 'hud' or 'all'); they redraw in a microtask. */
  invalidate(parts) {
    const first = this.stale.size === 0
    for (const p of parts) for (const q of p === 'all' ? PARTS : [p]) this.stale.add(q)
    if (first && this.stale.size) queueMicrotask(() => this.flush())
  }

  flush() {
    const stale = this.stale
    this.stale = new Set()
    if (stale.has('toolbar')) this.renderToolbar()
    if (stale.has('side')) this.renderSide()
    if (stale.has('status') || stale.has('toolbar')) this.renderStatus()
    if (stale.has('hud')) this.renderHud()
  }

  renderToolbar() {
    if (!this.app.view?.image) return
    this.toolbar.replaceChildren(...toolbarContent(this.app, this.statusEl))
  }

  renderStatus() {
    updateStatus(this.app, this.statusEl, this.toolbar)
  }

  renderSide() {
    if (!this.app.case) return
    const restore = keepTyping(this.side)
    this.side.replaceChildren(...sideContent(this.app))
    restore()
  }

  /** Slice (or frame) number in the stored order; the clip player follows the same slice. */
  renderHud() {
    const { view, grid, isVideo } = this.app
    if (!view?.image) return
    const native = grid.toNativeCoord(view.vox)
    this.hud.textContent = `${isVideo ? 'Frame' : 'Slice'} ${Math.round(native[2]) + 1} / ${grid.dims[2]}${view.slice2D ? ' · slice mode' : ''}`
    this.app.player.render()
  }

  sizeOverlay() {
    sizeOverlay(this.overlay, this.stage)
    this.drawOverlay()
  }

  drawOverlay() {
    if (this.app.view?.image && this.overlay) drawOverlay(this.overlay, this.app)
  }

  busy(text, { corner = false } = {}) {
    this.busyEl.hidden = !text
    this.busyEl.classList.toggle('corner', corner)
    this.busyEl.textContent = text
  }

  toast(text, kind = 'info', ms = 6000) {
    const el = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text)
    this.toasts.append(el)
    setTimeout(() => el.remove(), ms)
    if (this.toasts.children.length > 4) this.toasts.firstChild.remove()
  }

  /** A modal with buttons [key, label, action]; the first is the quiet one. */
  dialog(title, body, buttons) {
    this.closeDialogs()
    const el = h('div', { class: 'vw-dialog', role: 'dialog', 'aria-modal': 'true' },
      h('div', { class: 'box' }, h('h2', {}, title), body,
        h('div', { class: 'row end' }, ...buttons.map(([key, label, fn]) =>
          h('button', { type: 'button', 'data-choice': key, class: key === buttons[0][0] ? '' : 'primary', onclick: async () => { el.remove(); await fn() } }, label)))))
    this.root.append(el)
    return el
  }

  /** Close the help and dialogs, except a save conflict (it needs an answer). */
  closeDialogs() {
    for (const el of this.root.querySelectorAll('.vw-dialog:not([data-conflict]), .vw-help')) el.remove()
  }

  /** The shortcuts overlay, generated from the key map. */
  toggleHelp() {
    const open = this.root.querySelector('.vw-help')
    if (open) return open.remove()
    const el = h('div', { class: 'vw-help', role: 'dialog', onclick: (e) => { if (e.target === el) el.remove() } },
      h('div', { class: 'box' }, h('div', { class: 'row' }, h('h2', {}, 'Keyboard shortcuts'), h('span', { class: 'grow' }), h('button', { type: 'button', onclick: () => el.remove() }, 'Close')),
        h('div', { class: 'cols' }, ...helpGroups().map(([group, rows]) => h('div', {}, h('h3', {}, group),
          h('table', {}, ...rows.map(([keys, what]) => h('tr', {}, h('td', { class: 'keys' }, keys), h('td', {}, what)))))))))
    this.root.append(el)
  }
}

/** The side panel is redrawn whole; a field being typed in (a target's name or note, a review
 * comment) keeps its text, focus and caret across the redraw. */
function keepTyping(side) {
  const el = document.activeElement
  if (!el || !side.contains(el) || !el.matches('input[type=text], textarea')) return () => {}
  const item = el.closest('[data-target]')?.dataset.target
  const field = el.dataset.field ? `[data-field="${el.dataset.field}"]` : el.dataset.comment ? `[data-comment="${el.dataset.comment}"]` : null
  if (!field) return () => {}
  const selector = item ? `[data-target="${item}"] ${field}` : field
  const { value, selectionStart, selectionEnd } = el
  return () => {
    const next = side.querySelector(selector)
    if (!next) return
    next.value = value
    next.focus()
    next.setSelectionRange(selectionStart, selectionEnd)
  }
}
