// Window presets (centre, width in HU) by modality, and the keyboard shortcuts (the help
// overlay is generated from this table, so it always tells the truth).

export const CT_PRESETS = [
  { key: 'abdomen', name: 'CT abdomen', center: 40, width: 400 },
  { key: 'lung', name: 'CT lung', center: -600, width: 1500 },
  { key: 'brain', name: 'CT brain', center: 40, width: 80 },
  { key: 'mediastinum', name: 'CT mediastinum', center: 50, width: 350 },
  { key: 'bone', name: 'CT bone', center: 400, width: 1800 },
]

export function presetsFor(modality) {
  return modality === 'CT' ? CT_PRESETS : []
}

export const SHORTCUTS = [
  ['Navigation', [
    ['Wheel, ↑ / ↓', 'previous / next slice (Shift: 5 at a time)'],
    ['K', 'jump to the target’s key slice'],
    ['1 2 3 4', 'axial, coronal, sagittal, all three views'],
    ['Tab', 'next target'],
    ['Space', 'play / pause (echo clips)'],
    ['← / →', 'previous / next frame (echo clips)'],
  ]],
  ['Image', [
    ['Right-drag or W', 'window / level: drag (horizontal width, vertical level)'],
    ['Shift+1 … Shift+5', 'CT presets: abdomen, lung, brain, mediastinum, bone'],
    ['M', 'show / hide masks'],
    [', / .', 'mask opacity down / up'],
  ]],
  ['AI assist', [
    ['B', 'box tool: drag a box on the slice → pre-segmentation'],
    ['P / O', 'positive / negative point'],
    ['Enter', 'run the model with the points and box on this slice'],
  ]],
  ['Correction', [
    ['D / E', 'brush / eraser'],
    ['[ / ]', 'brush size smaller / larger'],
    ['F', 'fill: click inside a closed outline'],
    ['X', 'clear the target on this slice'],
    ['V', 'navigate (click sets the crosshair)'],
    ['Ctrl+Z / Ctrl+Shift+Z (Ctrl+Y)', 'undo / redo'],
  ]],
  ['Case', [
    ['Ctrl+S', 'save now (changes also save automatically)'],
    ['N', 'next case (saves first)'],
    ['?', 'this help'],
    ['Esc', 'close dialogs, cancel the box being drawn'],
  ]],
]
