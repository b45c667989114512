// The pre-segmentation flags of each target's model mask in the side panel: what was found, on
// which slices, each a link that moves the view there (docs/viewer.md).

import './flags.css'
import { h } from './dom.js'
import { flagRows, flagsEdited } from './flagtext.js'
import { keyNative } from './state.js'

/** Move the view to `slice` of target `t` (at its box's centre in that slice). */
export function jumpToSlice(app, t, slice) {
  app.selectTarget(t.id)
  const native = keyNative(t, app.grid.toNativeCoord(app.view.vox))
  native[2] = slice
  app.view.setVox(app.grid.toRasCoord(native))
}

/** The target's flags line ('' when its model mask passed the checks). */
export function flagsLine(app, t) {
  const rows = flagRows(t.flags, app.isVideo)
  if (!rows.length) return ''
  return h('div', { class: 'flags', 'data-flags': String(t.id), title: 'checks of the model’s mask when it was made' },
    ...rows.map((r) => h('span', { class: 'flag', 'data-flag': r.code, title: r.detail },
      `⚑ ${r.label}`, r.detail ? h('span', { class: 'detail' }, `: ${r.detail}`) : '',
      r.slices.length ? ` · ${r.unit}${r.slices.length + r.more > 1 ? 's' : ''} ` : '',
      ...r.slices.map((z) => h('button', { type: 'button', class: 'slice-link', 'data-slice': String(z), title: `go to ${r.unit} ${z}`, onclick: (e) => { e.stopPropagation(); jumpToSlice(app, t, z) } }, String(z))),
      r.more ? ` +${r.more} more` : '')),
    flagsEdited(t) ? h('span', { class: 'edited' }, '(the model’s mask; edited since)') : '')
}

/** Fetch the target's flags again (a new model mask arrived). */
export function refreshFlags(app, t) {
  return app.api.target(t.id).then((d) => {
    t.flags = d.flags || []
    t.flagsRevision = d.flags_revision ?? null
    app.invalidate('side')
  }, () => {})
}
