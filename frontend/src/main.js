// Entry point of the case viewer page (annotator/web/templates/web/viewer.html).
import './viewer.css'
import { App, imageUrl } from './app.js'
import { initialWindow } from './presets.js'
import { loadImage } from './view.js'

const scriptStart = performance.now()
const config = JSON.parse(document.getElementById('viewer-config').textContent)
// Start the image download first: it is the long pole of opening a case.
const image = loadImage(imageUrl(config), initialWindow(config.case?.image))
image.loaded.catch(() => {})
const root = document.getElementById('viewer-root')
const app = new App(root, config, { image })
app.marks.scriptStart = scriptStart
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
