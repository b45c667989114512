// Off the main thread: download the case image, gunzip it while it streams in, and reorder it
// to RAS into a NIfTI buffer ready for NiiVue. The buffer is transferred back, not copied.

import * as nifti from './nifti.js'
import { rasNifti } from './grid.js'

// The job comes in the worker's name, so the download starts the moment the worker runs,
// without a message from the page (whose main thread may be busy starting NiiVue). The page's
// preload (viewer.html) has usually fetched the image into the HTTP cache by then.
const { url, window, requested } = JSON.parse(self.name)
self.postMessage({ hello: true })
load()

async function load() {
  try {
    const at = () => performance.timeOrigin + performance.now() // comparable across threads
    const started = at()
    const response = await fetch(url, { credentials: 'same-origin' })
    if (!response.ok) throw new Error(`the image could not be loaded (HTTP ${response.status})`)
    const buffer = await nifti.readBody(response)
    const fetched = at()
    const out = rasNifti(buffer, window)
    const times = { requested, started, fetched, reordered: at() }
    self.postMessage({ ok: true, ...out, times }, [out.buffer])
  } catch (err) {
    self.postMessage({ ok: false, error: String(err.message || err) })
  }
}
