// The echo clip player under the image: play / pause at the clip's frame rate, scrub, step.
// A clip is stored x, y, t, so a frame is a slice of the key axis.

import { wrapFrame } from './state.js'

export class ClipPlayer {
  constructor(app) {
    this.app = app
    this.timer = null
    this.fps = 25
  }

  get active() {
    return !!this.app.isVideo
  }

  /** Wire the bar that buildLayout made (only clips show it). */
  setup(bar) {
    this.bar = bar
    this.fps = this.app.case.image.frame_rate || 25
    const scrub = bar.querySelector('input[type=range]')
    scrub.max = String(this.frames - 1)
    scrub.addEventListener('input', () => this.setFrame(Number(scrub.value)))
    bar.querySelector('.play').addEventListener('click', () => this.toggle())
    this.render()
  }

  get frames() {
    return this.app.grid.dims[2]
  }

  /** The frame (stored index) on screen. */
  get frame() {
    const { grid, view } = this.app
    return Math.round(grid.toNativeCoord(view.vox)[2])
  }

  setFrame(f) {
    const { grid, view } = this.app
    const native = grid.toNativeCoord(view.vox)
    native[2] = wrapFrame(f, this.frames)
    view.setVox(grid.toRasCoord(native))
    this.render()
  }

  step(delta) {
    this.setFrame(this.frame + delta)
  }

  toggle() {
    if (!this.active) return
    if (this.timer) {
      clearInterval(this.timer)
      this.timer = null
    } else {
      this.timer = setInterval(() => this.step(1), 1000 / this.fps)
    }
    this.render()
  }

  render() {
    if (!this.active || !this.bar) return
    this.bar.querySelector('.play').textContent = this.timer ? '❚❚' : '▶'
    this.bar.querySelector('input[type=range]').value = String(this.frame)
    this.bar.querySelector('.frame').textContent = `Frame ${this.frame + 1} / ${this.frames} · ${this.fps} fps`
  }
}
