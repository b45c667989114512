// The words and slice lists of a model mask's pre-segmentation flags (inference/qc.py); pure,
// so it is unit-tested without a browser. The side panel draws them (flags.js).

export const FLAG_LABELS = {
  empty: 'Empty mask',
  off_box: 'Off its box',
  border: 'Touches the image edge',
  area_jump: 'Area jump between slices',
  low_confidence: 'Low model confidence',
}

/** Slices shown as links per flag; the rest are counted. */
export const MAX_SLICE_LINKS = 6

/** A target's flags as the panel lists them: label, detail, the first slices and how many more. */
export function flagRows(flags, isVideo = false) {
  return (flags || []).map((f) => {
    const slices = f.slices || []
    return {
      code: f.code,
      label: FLAG_LABELS[f.code] || f.code,
      detail: f.detail || '',
      unit: isVideo ? 'frame' : 'slice',
      slices: slices.slice(0, MAX_SLICE_LINKS),
      more: Math.max(0, slices.length - MAX_SLICE_LINKS),
    }
  })
}

/** True when the flags belong to an earlier model mask than the one shown (someone edited it). */
export const flagsEdited = (t) => !!t.flagsRevision && t.head !== t.flagsRevision
