// Review: the submitted masks, the model's original or their difference, and a verdict per
// target (a rejection needs a comment).

import { h } from './dom.js'
import * as ops from './maskops.js'

const DISPLAYS = [['submitted', 'Submitted'], ['model', 'Model original'], ['diff', 'Difference']]

export class Review {
  constructor(app) {
    this.app = app
    this.display = 'submitted' // submitted | model | diff
  }

  /** Fetch the model's latest mask of a target once (empty when the model never made one). */
  async loadModel(t) {
    if (t.model !== null || !t.head) return
    const { api, masks, grid } = this.app
    const list = await api.revisions(t.id)
    const model = [...(list.results || list)].reverse().find((r) => r.source === 'model')
    t.modelRevision = model ? model.id : null
    t.model = model ? await masks.fetch(t, model.id) : masks.empty()
    t.modelExtent = ops.bboxOfMask(t.model, grid.rasDims)
  }

  async setDisplay(display) {
    this.display = display
    if (display !== 'submitted') {
      for (const t of this.app.targets) await this.loadModel(t)
    }
    this.app.masks.refresh(null)
    this.app.invalidate('side')
  }

  async decide(t, decision) {
    const { app } = this
    const comment = app.root.querySelector(`textarea[data-comment="${t.id}"]`)?.value.trim() || ''
    if (decision === 'reject' && !comment) return app.ui.toast('A rejection needs a comment telling the annotator what to fix.', 'warn')
    try {
      await app.api.reviewTarget(t.id, { decision, comment })
      app.case = await app.api.getCase(app.case.id)
      await app.assist.refreshTargets()
      app.ui.toast(`${decision === 'accept' ? 'Accepted' : 'Rejected'} “${t.label}”.`, 'ok')
      if (['accepted', 'rejected'].includes(app.case.status)) app.ui.toast(`The case is now ${app.case.status}.`, 'ok', 5000)
      app.invalidate('all')
    } catch (err) {
      app.ui.toast(err.message, 'error')
    }
  }

  /** The side panel's review section. */
  section() {
    return h('section', { class: 'review' }, h('h3', {}, 'Review'),
      h('div', { class: 'seg3' }, ...DISPLAYS.map(([v, l]) =>
        h('button', { type: 'button', class: this.display === v ? 'on' : '', 'data-display': v, onclick: () => this.setDisplay(v) }, l))),
      this.display === 'diff' ? h('div', { class: 'legend' }, h('span', { class: 'sw same' }), 'both ', h('span', { class: 'sw added' }), 'added by annotator ', h('span', { class: 'sw removed' }), 'removed') : '',
      h('p', { class: 'muted' }, 'Accept or reject each target; a rejection goes back to the annotator with your comment.'))
  }

  /** Accept / reject controls of a target not yet decided in this version. */
  decideControls(t) {
    if (t.review && t.review.current) return ''
    return h('div', { class: 'decide' },
      h('textarea', { rows: '2', placeholder: 'Comment (needed to reject)', 'data-comment': String(t.id) }),
      h('div', { class: 'row' },
        h('button', { type: 'button', class: 'primary', 'data-action': 'accept', onclick: () => this.decide(t, 'accept') }, 'Accept'),
        h('button', { type: 'button', class: 'danger', 'data-action': 'reject', onclick: () => this.decide(t, 'reject') }, 'Reject')))
  }
}
