// Time on task: the viewer calls touch(target) on every editing interaction. The time between
// two interactions counts for the target being worked on, unless the gap is longer than
// `idleSeconds` (the annotator was away): idle time is never counted.

export class ActivityTracker {
  constructor({ idleSeconds = 30, now = () => performance.now() / 1000 } = {}) {
    this.idleSeconds = idleSeconds
    this.now = now
    this.last = null
    this.lastTarget = null
    this.seconds = new Map()
  }

  touch(target) {
    const t = this.now()
    if (this.last !== null && this.lastTarget !== null) {
      const gap = t - this.last
      if (gap > 0 && gap <= this.idleSeconds) {
        this.seconds.set(this.lastTarget, (this.seconds.get(this.lastTarget) || 0) + gap)
      }
    }
    this.last = t
    this.lastTarget = target ?? null
  }

  /** Active seconds of a target not yet reported. */
  peek(target) {
    return this.seconds.get(target) || 0
  }

  /** Mark `seconds` of a target as reported (a save carrying them succeeded). */
  consume(target, seconds) {
    const left = Math.max(0, (this.seconds.get(target) || 0) - seconds)
    this.seconds.set(target, left)
  }
}
