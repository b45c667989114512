// Window presets (centre, width in HU) by modality. The CT presets live in
// inference/ct_windows.json, which the server's preprocessing reads too: one table for both.
import ctWindows from '../../inference/ct_windows.json' with { type: 'json' }

export const CT_PRESETS = ctWindows.windows.map(({ key, name, center, width }) => ({ key, name, center, width }))

const CT_DEFAULT = CT_PRESETS.find((p) => p.key === ctWindows.default)

export function presetsFor(modality) {
  return modality === 'CT' ? CT_PRESETS : []
}

/** The window an image opens with: its own, the default CT preset, or null (NiiVue's robust range). */
export function initialWindow(image) {
  if (!image) return null
  if (image.window) return { center: image.window.center, width: image.window.width }
  if (image.modality === 'CT') return { center: CT_DEFAULT.center, width: CT_DEFAULT.width }
  return null
}
