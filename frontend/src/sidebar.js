// The side panel: the case, its targets (colour, voxels, save state, AI progress, verdicts),
// and the mode's actions (AI assist and submit; review; or back to the worklist).

import { flagsLine } from './flags.js'
import { h } from './dom.js'
import { titled } from './keymap.js'
import { isRunning, revLabel, targetSaveLabel } from './state.js'

/** The side panel's sections for the app's current state. */
export function sideContent(app) {
  const c = app.case
  const annotate = app.mode === 'annotate'
  const { assist } = app
  const sections = [h('section', { class: 'case' },
    h('div', { class: 'row' }, h('strong', {}, c.study_id), h('span', { class: `status s-${c.status}`, 'data-case-status': c.status }, c.status.replace('_', ' '))),
    h('div', { class: 'muted' }, `${c.image.modality} · ${c.image.shape.join('×')} · ${app.isVideo ? 'clip' : 'volume'}`),
    h('div', { class: `live muted${assist.socketUp || !assist.socket ? '' : ' off'}` }, '● live'))]
  const items = app.targets.map((t) => targetItem(app, t))
  const labelPicker = annotate ? h('div', { class: 'new-target' },
    h('select', { 'aria-label': 'label for a new target', onchange: (e) => { assist.chooseLabel(e.target.value || null); app.setTool('box') } },
      h('option', { value: '' }, '+ New target…'),
      ...assist.labels().map((l) => h('option', { value: l, selected: assist.newLabel === l }, l))),
    assist.newLabel ? h('div', { class: 'hint' }, `Draw a box (B) or add points and press Enter to create a “${assist.newLabel}”.`) : '') : ''
  const none = !items.length ? h('p', { class: 'muted' }, annotate ? 'No targets yet: choose a label below, then draw a box (B) around the lesion.' : 'No targets.') : ''
  sections.push(h('section', { class: 'targets' }, h('h3', {}, 'Targets'), none, h('ul', { class: 'target-list' }, ...items), labelPicker))
  if (annotate) {
    const pending = assist.pending.points.length
    sections.push(h('section', { class: 'ai' }, h('h3', {}, 'AI assist'),
      h('p', { class: 'muted' }, 'Box (B) on a slice re-segments the target from it; points (P/O) then Enter refine.'),
      pending ? h('div', { class: 'hint' }, `${pending} point${pending > 1 ? 's' : ''} waiting`) : '',
      h('div', { class: 'row' },
        h('button', { type: 'button', onclick: () => assist.runPending(), 'data-action': 'run-ai', disabled: !pending }, 'Run AI (Enter)'),
        app.isVideo ? h('button', { type: 'button', onclick: () => assist.propagate(), 'data-action': 'propagate', title: 'Use this frame’s mask and propagate it through the clip' }, 'Propagate from this frame') : '')))
    sections.push(h('section', { class: 'actions' },
      h('button', { type: 'button', class: 'primary', onclick: () => app.submit(), 'data-action': 'submit' }, 'Submit for review'),
      h('button', { type: 'button', onclick: () => app.nextCase(), 'data-action': 'next' }, titled('Next case', 'nextCase'))))
  } else if (app.mode === 'review') {
    sections.push(app.review.section())
    sections.push(h('section', { class: 'actions' }, h('a', { class: 'button', href: app.config.urls.review }, '← Review queue')))
  } else {
    sections.push(h('section', { class: 'actions' }, h('a', { class: 'button', href: app.config.urls.worklist }, '← Worklist'),
      h('button', { type: 'button', onclick: () => app.nextCase(), 'data-action': 'next' }, titled('Next case', 'nextCase'))))
  }
  return sections
}

function targetItem(app, t) {
  const { job, review } = t
  const running = isRunning(job)
  const pct = running && job.total ? Math.round((100 * job.done) / job.total) : 0
  const state = targetSaveLabel(t)
  return h('li', { class: `target${t.id === app.active ? ' active' : ''}`, 'data-target': String(t.id), onclick: (e) => { if (!e.target.closest('button, textarea, input, select')) app.selectTarget(t.id) } },
    h('div', { class: 'row' },
      h('span', { class: 'swatch', style: { background: t.color } }),
      h('strong', { 'data-name': '' }, t.displayName),
      t.name ? h('span', { class: 'muted', 'data-label': '' }, t.label) : '',
      h('span', { class: 'grow' }),
      h('button', { type: 'button', class: 'icon', title: t.visible ? 'Hide' : 'Show', 'data-action': 'toggle', onclick: () => app.toggleVisible(t) }, t.visible ? '◉' : '○'),
      h('button', { type: 'button', class: 'icon', title: titled('Jump to key slice', 'jumpToKey'), 'data-action': 'key', onclick: () => { app.selectTarget(t.id); app.jumpToKey(t) } }, 'Key')),
    h('div', { class: 'meta muted' },
      h('span', { 'data-voxels': String(t.count) }, `${t.count.toLocaleString()} voxels`), ' · ',
      h('span', { class: `save-${state.replace(' ', '-')}` }, state), ' · ',
      h('span', { 'data-rev': String(t.headNumber ?? '') }, revLabel(t))),
    app.measuring.summary(t) ? h('div', { class: 'measures muted', 'data-measures': String(t.id), title: 'volume · longest diameter × perpendicular short axis on the key slice' }, app.measuring.summary(t)) : '',
    running ? h('div', { class: 'job' }, h('div', { class: 'bar' }, h('span', { style: { width: `${pct}%` } })), h('span', { class: 'muted' }, `AI ${job.status}${job.total ? ` ${job.done}/${job.total}` : ''}`)) : '',
    job && job.status === 'failed' ? h('div', { class: 'job failed' }, `AI failed: ${job.message}`) : '',
    flagsLine(app, t),
    review ? h('div', { class: `review-note ${review.decision}` }, `${review.decision === 'reject' ? 'Rejected' : 'Accepted'} by ${review.reviewer || 'a reviewer'}${review.current ? '' : ' (an earlier version)'}${review.comment ? `: “${review.comment}”` : ''}`) : '',
    app.mode === 'annotate' && t.id === app.active ? targetEditor(app, t) : '',
    app.mode !== 'annotate' && t.note ? h('div', { class: 'target-note', 'data-note': String(t.id) }, h('span', { class: 'muted' }, 'Annotator’s note: '), t.note) : '',
    app.mode === 'review' ? app.review.decideControls(t) : '')
}

/** The active target's name, label, note to the reviewer and delete (annotate mode). A field
 * is sent when it changes (blur or Enter); the API answers with the target as stored. */
function targetEditor(app, t) {
  const labels = app.assist.labels()
  // Text is sent on blur (the panel is redrawn while one types, keeping the text: ui.js).
  const send = (field) => (e) => {
    const value = e.target.value
    if (value.trim() !== (t[field] || '').trim()) app.changeTarget(t, { [field]: value })
  }
  const enterBlurs = (e) => { if (e.key === 'Enter') e.target.blur() }
  return h('div', { class: 'target-edit', 'data-edit': String(t.id) },
    h('div', { class: 'row' },
      h('input', { type: 'text', 'aria-label': 'name', 'data-field': 'name', maxlength: '100', value: t.name, placeholder: `${t.displayName} (name)`, onblur: send('name'), onkeydown: enterBlurs }),
      h('select', { 'aria-label': 'label', 'data-field': 'label', onchange: send('label') },
        ...[...new Set([t.label, ...labels])].map((l) => h('option', { value: l, selected: l === t.label }, l)))),
    h('textarea', { 'aria-label': 'note to the reviewer', 'data-field': 'note', maxlength: '2000', rows: '2', placeholder: 'Note to the reviewer (optional)', onblur: send('note') }, t.note),
    h('div', { class: 'row' }, h('span', { class: 'grow' }),
      h('button', { type: 'button', class: 'danger', 'data-action': 'delete-target', onclick: () => app.deleteTarget(t) }, 'Delete target')))
}
