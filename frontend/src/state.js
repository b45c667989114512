// The viewer's state rules, as pure functions of plain data (unit-tested in tests/state.test.js):
// targets, who may edit what, tool and slider limits, save status, AI jobs and prompts.

import { SaveState } from './saver.js'

export const EDIT_TOOLS = new Set(['brush', 'eraser', 'fill', 'lasso'])
export const AI_TOOLS = new Set(['box', 'point+', 'point-'])
export const ACTIVE_JOB = new Set(['queued', 'running'])
export const BRUSH_MAX = 80

/** A target as the viewer keeps it, from the API's JSON; `index` gives its drawing slot. */
export function makeTarget(data, index) {
  return {
    id: data.id,
    label: data.label,
    name: data.name || '',
    displayName: data.display_name || data.label,
    note: data.note || '',
    color: data.color || '#ff4040',
    slot: index + 1,
    keyIndex: data.key_index,
    box: data.box,
    points: data.points || [],
    head: data.head,
    headNumber: data.head_number ?? null, // rev n of this target (not the revision's id)
    headVoxels: data.head_voxel_count,
    headSource: data.head_source,
    review: data.review,
    flags: data.flags || [], // the pre-segmentation checks of its latest model mask (flags.js)
    flagsRevision: data.flags_revision ?? null,
    mask: null,
    count: data.head_voxel_count ?? 0, // voxels set in `mask`, kept up to date by every edit
    extent: null, // RAS bounding box of what the mask may contain
    version: 0,
    savedVersion: 0,
    saveState: SaveState.IDLE,
    visible: true,
    job: null,
    model: null, // review: the model's mask
  }
}

/** What the API says about a target's name, label and note, into the viewer's record. */
export function applyTargetFields(t, data) {
  Object.assign(t, {
    label: data.label,
    name: data.name || '',
    displayName: data.display_name || data.label,
    note: data.note || '',
    color: data.color || t.color,
  })
  return t
}

/** The drawing-slot index for a new target: after the highest in use (deleted targets leave
 * gaps, and a slot must never be shared). */
export const nextSlotIndex = (targets) => targets.reduce((m, t) => Math.max(m, t.slot), 0)

/** The side panel's revision line: "rev n" of this target, once known. */
export const revLabel = (t) => (t.head ? (t.headNumber ? `rev ${t.headNumber}` : 'rev …') : 'no mask yet')

/**
 * Where a target's key view is, in native voxel coordinates: `from` (a native point) moved to
 * the target's key slice and, when it has a box, to the box's centre in that slice.
 */
export function keyNative(t, from) {
  const native = [...from]
  native[2] = t.keyIndex
  if (t.box) [native[0], native[1]] = [(t.box[0] + t.box[2]) / 2, (t.box[1] + t.box[3]) / 2]
  return native
}

export const isDirty = (t) => t.version !== t.savedVersion
export const isRunning = (job) => !!job && ACTIVE_JOB.has(job.status)

/** Why a target cannot be edited now (a message for the user), '' when it can; null: silently not. */
export function editBlocker(mode, t) {
  if (mode !== 'annotate') return null
  if (!t) return 'Choose a target first (or draw a box to create one).'
  if (isRunning(t.job)) return `The model is working on “${t.label}”; wait for its result.`
  if (t.saveState === SaveState.CONFLICT) return 'Resolve the save conflict of this target first.'
  return ''
}

export const toolAllowed = (mode, tool) => mode === 'annotate' || !(EDIT_TOOLS.has(tool) || AI_TOOLS.has(tool))
export const clampBrush = (size) => Math.max(1, Math.min(BRUSH_MAX, Math.round(size)))
export const clampOpacity = (o) => Math.max(0, Math.min(1, o))

/** `[` / `]`: one step below 10, two above (the size grows with the slider's feel). */
export function brushStep(size, dir) {
  return clampBrush(size + (dir < 0 ? -(size > 10 ? 2 : 1) : size >= 10 ? 2 : 1))
}

/** The target after (dir 1) or before (dir -1) the active one, wrapping; null without targets. */
export function cycleTarget(targets, active, dir) {
  if (!targets.length) return null
  const i = targets.findIndex((t) => t.id === active)
  return targets[(i + dir + targets.length) % targets.length].id
}

/** Labels offered for a new target: the project's, else those in use, else 'lesion'. */
export function labelsFor(projectLabels, targets) {
  if (projectLabels?.length) return projectLabels
  const used = [...new Set(targets.map((t) => t.label))]
  return used.length ? used : ['lesion']
}

export function hasUnsaved(targets, saverBusy) {
  return targets.some((t) => isDirty(t) || t.saveState !== SaveState.IDLE) || saverBusy
}

/** The status bar: { text, cls } for the mode and the targets' save states (worst first). */
export function saveStatus(mode, targets) {
  if (mode !== 'annotate') return { text: mode === 'review' ? 'Review mode' : 'Read only', cls: 'ok' }
  const first = (state) => targets.find((t) => t.saveState === state)
  let t
  if (first(SaveState.CONFLICT)) return { text: 'Save conflict: choose what to keep', cls: 'error' }
  if ((t = first(SaveState.FAILED))) return { text: `Save failed: ${t.saveError}`, cls: 'error' }
  if ((t = first(SaveState.RETRYING))) return { text: `Server unreachable; retrying the save (attempt ${t.attempts})…`, cls: 'warn' }
  if (first(SaveState.SAVING)) return { text: 'Saving…', cls: 'busy' }
  if (targets.some(isDirty)) return { text: 'Unsaved changes', cls: 'dirty' }
  return { text: 'All changes saved', cls: 'ok' }
}

/** A target's save state as its list item shows it. */
export function targetSaveLabel(t) {
  if (isDirty(t)) return 'unsaved'
  if (t.saveState !== SaveState.IDLE) return t.saveState
  return t.head ? 'saved' : 'no mask'
}

/**
 * A progress message applied to a target's job: { job, load, failed } with the new job record,
 * the revision to load (a finished result newer than the head that was not applied yet) and
 * whether the job has just failed; null for an older job's late message. Revision ids only
 * grow, so a result older than the head (a snapshot sent on connect) never replaces newer work.
 */
export function progressStep(previous, head, m) {
  if (previous && previous.id > m.job) return null
  const job = { id: m.job, status: m.status, done: m.done, total: m.total, message: m.message }
  const fresh = m.status === 'done' && m.revision && m.revision > (head ?? 0) && previous?.applied !== m.revision
  if (fresh) job.applied = m.revision
  return { job, load: fresh ? m.revision : null, failed: !fresh && m.status === 'failed' && previous?.status !== 'failed' }
}

/** A job as the API returns it → the progress message the socket would have sent. */
export const jobMessage = (job, target = job.target) => ({
  type: 'job', job: job.id, target, case: job.case, status: job.status, done: job.done, total: job.total, message: job.message, revision: job.result,
})

/**
 * A box dragged between two native points on one slice → [x0, y0, x1, y1] (x1, y1 exclusive,
 * clipped to the image) and its slice index; null when it is under 2 voxels on a side.
 */
export function boxFromCorners(a, b, dims) {
  const [nx, ny] = dims
  const x0 = Math.max(0, Math.round(Math.min(a[0], b[0]))), x1 = Math.min(nx, Math.round(Math.max(a[0], b[0])) + 1)
  const y0 = Math.max(0, Math.round(Math.min(a[1], b[1]))), y1 = Math.min(ny, Math.round(Math.max(a[1], b[1])) + 1)
  if (x1 - x0 < 2 || y1 - y0 < 2) return null
  return { index: Math.round(a[2]), box: [x0, y0, x1, y1] }
}

/** A point prompt at a native coordinate (x, y to 0.1 voxel, on its slice). */
export const pointAt = (native, positive) => ({
  index: Math.round(native[2]), x: Math.round(native[0] * 10) / 10, y: Math.round(native[1] * 10) / 10, positive,
})

/** Pending points on a slice as the API's [x, y, 1|0] triples. */
export const pointsOn = (points, index) => points.filter((p) => p.index === index).map((p) => [p.x, p.y, p.positive ? 1 : 0])

/** The same triples as a new target's points. */
export const targetPoints = (triples, index) => triples.map(([x, y, p]) => ({ x, y, z: index, positive: !!p }))

/** Window/level after a drag of (dx, dy) pixels from `start`: horizontal width, vertical level. */
export function dragWindow(start, dx, dy) {
  const scale = Math.max(start.width, 1) / 300
  return { center: start.center - dy * scale, width: start.width + dx * scale }
}

/** A frame number wrapped into 0..frames-1 (the player loops). */
export const wrapFrame = (f, frames) => ((f % frames) + frames) % frames
