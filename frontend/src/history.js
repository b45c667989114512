// Our own undo/redo, deeper than NiiVue's 8-step ring: each entry is the list of voxels an edit
// flipped in one target's mask. Undo and redo flip them back. The history is bounded by the
// number of stored voxel indices (memory), not by a fixed depth.

export class History {
  /** @param {{maxVoxels?: number}} options */
  constructor({ maxVoxels = 64 * 1024 * 1024 } = {}) {
    this.maxVoxels = maxVoxels
    this.undoStack = []
    this.redoStack = []
    this.voxels = 0
  }

  /** Record an edit already applied: {target, indices: Uint32Array, label}. */
  push(entry) {
    if (!entry.indices.length) return false
    this.undoStack.push(entry)
    this.voxels += entry.indices.length
    for (const e of this.redoStack) this.voxels -= e.indices.length
    this.redoStack = []
    while (this.voxels > this.maxVoxels && this.undoStack.length > 1) {
      this.voxels -= this.undoStack.shift().indices.length
    }
    return true
  }

  /** The entry to undo (the caller flips its voxels), or null. */
  undo() {
    const entry = this.undoStack.pop()
    if (!entry) return null
    this.redoStack.push(entry)
    return entry
  }

  redo() {
    const entry = this.redoStack.pop()
    if (!entry) return null
    this.undoStack.push(entry)
    return entry
  }

  /** Forget every entry of a target (its mask was replaced wholesale, e.g. a reload). */
  dropTarget(target) {
    const keep = (e) => e.target !== target
    for (const e of [...this.undoStack, ...this.redoStack]) if (!keep(e)) this.voxels -= e.indices.length
    this.undoStack = this.undoStack.filter(keep)
    this.redoStack = this.redoStack.filter(keep)
  }

  get canUndo() {
    return this.undoStack.length > 0
  }

  get canRedo() {
    return this.redoStack.length > 0
  }

  get depth() {
    return this.undoStack.length
  }
}
