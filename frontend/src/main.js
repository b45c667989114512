// Entry point of the case viewer page (annotator/web/templates/web/viewer.html).
import './viewer.css'
import { App } from './app.js'

const config = JSON.parse(document.getElementById('viewer-config').textContent)
// Start the image download before anything else: it is the long pole of opening a case.
const imageResponse = fetch(`${config.apiBase}/cases/${config.caseId}/image`, { credentials: 'same-origin' }).then((r) => {
  if (!r.ok) throw new Error(`the image could not be loaded (HTTP ${r.status})`)
  return r
})
imageResponse.catch(() => {})
const root = document.getElementById('viewer-root')
const app = new App(root, config, { imageResponse })
window.viewer = {
  app,
  state: () => app.state(),
  screenOf: (native, view) => app.screenOf(native, view),
  get ready() {
    return !!app.ready
  },
  error: null,
}
const gl = document.createElement('canvas').getContext('webgl2')
if (!gl) {
  root.innerHTML = '<p class="vw-fatal">This viewer needs WebGL 2, which this browser does not provide.</p>'
  window.viewer.error = 'no WebGL2'
} else {
  app.start().catch((err) => {
    console.error(err)
    window.viewer.error = String(err.message || err)
    const p = document.createElement('p')
    p.className = 'vw-fatal'
    p.textContent = `The case could not be opened: ${err.message || err}`
    root.append(p)
  })
}
