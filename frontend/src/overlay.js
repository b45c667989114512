// The 2D canvas over the image: prompts on screen (the box being drawn, the points waiting, the
// target's stored box on its key slice), in CSS pixels of the stage.

export function sizeOverlay(overlay, stage) {
  const r = stage.getBoundingClientRect()
  const dpr = window.devicePixelRatio || 1
  overlay.width = Math.round(r.width * dpr)
  overlay.height = Math.round(r.height * dpr)
  overlay.style.width = `${r.width}px`
  overlay.style.height = `${r.height}px`
}

export function drawOverlay(overlay, app) {
  const { view, grid } = app
  const ctx = overlay.getContext('2d')
  const dpr = window.devicePixelRatio || 1
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0)
  ctx.clearRect(0, 0, overlay.width, overlay.height)
  app.measuring.draw(ctx) // rulers in any view, the active target's axes on its key slice
  app.lasso.draw(ctx) // the lasso or polygon being drawn, in its view
  const plane = grid.keyView()
  if (!view.visibleViews().includes(plane)) return
  const rect = (a, b, color, dash) => {
    const pa = view.toScreen(a, plane), pb = view.toScreen(b, plane)
    if (!pa || !pb) return
    ctx.strokeStyle = color
    ctx.lineWidth = 1.5
    ctx.setLineDash(dash ? [5, 4] : [])
    ctx.strokeRect(Math.min(pa[0], pb[0]), Math.min(pa[1], pb[1]), Math.abs(pb[0] - pa[0]), Math.abs(pb[1] - pa[1]))
  }
  const drag = app.input.drag
  if (drag?.kind === 'box') rect(drag.a, drag.b, '#ffd400', false)
  const t = app.current
  const slice = Math.round(grid.toNativeCoord(view.vox)[2])
  if (t?.box && t.keyIndex === slice && app.tool !== 'brush' && app.tool !== 'eraser') {
    rect(grid.toRasCoord([t.box[0], t.box[1], slice]), grid.toRasCoord([t.box[2] - 1, t.box[3] - 1, slice]), t.color, true)
  }
  for (const p of app.assist.pending.points) {
    if (p.index !== slice) continue
    const s = view.toScreen(grid.toRasCoord([p.x, p.y, p.index]), plane)
    if (!s) continue
    ctx.setLineDash([])
    ctx.fillStyle = p.positive ? '#22c55e' : '#ef4444'
    ctx.strokeStyle = '#fff'
    ctx.beginPath()
    ctx.arc(s[0], s[1], 5, 0, Math.PI * 2)
    ctx.fill()
    ctx.stroke()
  }
}
