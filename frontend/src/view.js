// NiiVue, driven the way the annotator needs it.
//
// NiiVue draws the image and one drawing layer. The drawing layer holds a composite of every
// visible target (value = the target's slot, coloured by a lookup table), so all masks show at
// once while each target keeps its own mask in memory. Edits update only the changed box of
// the layer's texture (NiiVue would re-upload the whole volume on each stroke).
//
// Large images open in "slice mode": NiiVue shows the current axial slice from a 2D texture, so
// the first frame does not wait for a 3D texture of the whole volume (slow on software WebGL).
// The 3D textures, needed for coronal and sagittal views, are built when such a view is asked
// for (or straight after the first frame on hardware WebGL).

import { Niivue, NVImage, SLICE_TYPE, SHOW_RENDER } from '@niivue/niivue'
import { Grid, NORMAL_AXIS, rasNifti, robustRange, windowBounds } from './grid.js'
import * as nifti from './nifti.js'

export const LAYOUTS = { axial: SLICE_TYPE.AXIAL, coronal: SLICE_TYPE.CORONAL, sagittal: SLICE_TYPE.SAGITTAL, multi: SLICE_TYPE.MULTIPLANAR }
const TEXTURE7_DRAW = 33991 // gl.TEXTURE7: NiiVue's drawing texture unit
// Images with more voxels than this open in slice mode.
export const SLICE_MODE_VOXELS = 8 * 1024 * 1024

/**
 * Download an image and reorder it to RAS in a worker, off the main thread and in parallel with
 * NiiVue's start-up. Returns {loaded, started}: `loaded` resolves to {buffer (RAS NIfTI), dims,
 * affine (native), times}; `started` once the worker runs. A worker cannot start while the main
 * thread is blocked, and NiiVue's start-up blocks it (shader compilation): start NiiVue after
 * `started`.
 */
export function loadImage(url, window) {
  const requested = performance.timeOrigin + performance.now()
  let running
  const started = new Promise((resolve) => { running = resolve })
  const loaded = new Promise((resolve, reject) => {
    const job = JSON.stringify({ url, window, requested })
    const worker = new Worker(new URL('./image-worker.js', import.meta.url), { type: 'module', name: job })
    worker.onerror = (event) => {
      running()
      worker.terminate()
      reject(new Error(event.message || 'the image worker failed'))
    }
    worker.onmessage = (event) => {
      if (event.data.hello) return running()
      worker.terminate()
      if (event.data.ok) resolve(event.data)
      else reject(new Error(event.data.error))
    }
  })
  return { loaded, started }
}

/**
 * One slice of a volume (`image?slice=k`), fetched and re-ordered on the main thread: it is
 * small, and a worker would take longer to start than this takes.
 */
export async function loadSlice(url, window) {
  const response = await fetch(url, { credentials: 'same-origin' })
  if (!response.ok) throw new Error(`the key slice could not be loaded (HTTP ${response.status})`)
  return rasNifti(await nifti.readBody(response), window)
}

/**
 * Paint one axial slice (from loadSlice()) on a 2D canvas as NiiVue's axial view will show it:
 * radiological convention (patient's right on the left, anterior up), fitted to the canvas by
 * its size in millimetres, in the display window. Shown while the volume downloads; this needs
 * no WebGL, so it is on screen before NiiVue has started. Returns false for a slice that is not
 * an axial plane (nothing painted).
 */
export function paintSlice(canvas, slice, window) {
  const grid = new Grid(slice.dims, slice.affine)
  if (grid.rasOf[2] !== 2) return false
  const header = nifti.parseHeader(slice.buffer)
  const values = nifti.voxels(slice.buffer, header)
  const [nx, ny] = grid.rasDims
  const [sx, sy] = grid.rasSpacing.map((mm) => mm || 1)
  const [lo, hi] = windowBounds(window) ?? robustRange(values, header.slope, header.inter)
  const scale = 255 / Math.max(hi - lo, 1e-6)
  const pixels = new ImageData(nx, ny)
  const rgba = pixels.data
  for (let y = 0; y < ny; y++) {
    const row = (ny - 1 - y) * nx // anterior (high y) at the top
    for (let x = 0; x < nx; x++) {
      const v = values[y * nx + x] * header.slope + header.inter
      const g = Math.max(0, Math.min(255, (v - lo) * scale))
      const o = (row + (nx - 1 - x)) * 4 // patient's right (high x) on the left
      rgba[o] = rgba[o + 1] = rgba[o + 2] = g
      rgba[o + 3] = 255
    }
  }
  const ratio = globalThis.devicePixelRatio || 1
  canvas.width = Math.max(1, Math.round(canvas.clientWidth * ratio))
  canvas.height = Math.max(1, Math.round(canvas.clientHeight * ratio))
  const fit = Math.min(canvas.width / (nx * sx), canvas.height / (ny * sy))
  const [w, h] = [nx * sx * fit, ny * sy * fit]
  const source = new OffscreenCanvas(nx, ny)
  source.getContext('2d').putImageData(pixels, 0, 0)
  const ctx = canvas.getContext('2d')
  ctx.fillStyle = '#000'
  ctx.fillRect(0, 0, canvas.width, canvas.height)
  ctx.drawImage(source, (canvas.width - w) / 2, (canvas.height - h) / 2, w, h)
  return true
}

export class SliceView {
  constructor(canvas) {
    this.canvas = canvas
    this.nv = new Niivue({
      backColor: [0, 0, 0, 1],
      show3Dcrosshair: false,
      isColorbar: false,
      dragAndDropEnabled: false,
      multiplanarShowRender: SHOW_RENDER.NEVER,
      crosshairColor: [0.3, 0.7, 1, 0.35],
      crosshairWidth: 0.5,
      isRadiologicalConvention: true,
      logLevel: 'warn',
      loadingText: '',
      // Our key map (keymap.js) has every key; NiiVue's own hot keys would act behind it
      // (V cycled NiiVue's slice type under the app's layout, P and C clip planes).
      viewModeHotKey: 'None',
      clipPlaneHotKey: 'None',
      cycleClipPlaneHotKey: 'None',
    })
    this.marks = {}
    this.ready = this.nv.attachToCanvas(canvas).then(() => { this.marks.glReady = performance.now() })
    this.listeners = new Set()
    this.slice2D = false
    this.composite = null
    this.grid = null
  }

  onChange(fn) {
    this.listeners.add(fn)
  }

  _changed(what) {
    for (const fn of this.listeners) fn(what)
  }

  get renderer() {
    const gl = this.nv.gl
    const info = gl.getExtension('WEBGL_debug_renderer_info')
    return info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER)
  }

  get softwareGL() {
    return /swiftshader|llvmpipe|software/i.test(this.renderer)
  }

  /**
   * Show an image prepared by loadImage(). Returns once NiiVue drew its first frame.
   * @param {{buffer: ArrayBuffer, dims: number[], affine: number[][]}} loaded
   * @param {{window: {center:number, width:number}|null, startNative?: number[], forceSliceMode?: boolean|null}} o
   */
  async load(loaded, { window, startNative, forceSliceMode = null }) {
    // `loaded`: from loadImage() — the RAS-ordered NIfTI buffer and the native geometry.
    const grid = new Grid(loaded.dims, loaded.affine)
    this.grid = grid
    this.dims = grid.rasDims
    this.spacing = grid.rasSpacing
    await this.ready
    const nv = this.nv
    const image = await NVImage.loadFromUrl({ url: loaded.buffer, name: 'image.nii', colormap: 'gray' })
    this.marks.parsed = performance.now()
    const bounds = windowBounds(window)
    if (bounds) [image.cal_min, image.cal_max] = bounds
    this.image = image
    const voxels = grid.size
    this.slice2D = forceSliceMode ?? voxels > SLICE_MODE_VOXELS
    this.max3D = nv.uiData.max3D
    if (this.slice2D) nv.uiData.max3D = 1 // makes NiiVue take its single-slice 2D path
    const start = startNative ? grid.toRasCoord(startNative).map(Math.round) : this.dims.map((d) => Math.floor(d / 2))
    nv.scene.crosshairPos = this._frac(start)
    nv.setSliceType(SLICE_TYPE.AXIAL)
    nv.addVolume(image)
    this.marks.added = performance.now()
    this.composite = new Uint8Array(voxels)
    nv.drawBitmap = this.composite
    this._makeDrawTexture()
    nv.drawScene()
    this._changed('load')
  }

  _frac(vox) {
    return [0, 1, 2].map((a) => (vox[a] + 0.5) / this.dims[a])
  }

  _makeDrawTexture() {
    const nv = this.nv
    nv.drawTexture = this.slice2D
      ? nv.r8Tex2D(nv.drawTexture, TEXTURE7_DRAW, nv.back.dims, true)
      : nv.r8Tex(nv.drawTexture, TEXTURE7_DRAW, nv.back.dims, true)
    this.uploadDrawing(null)
  }

  /** Build the 3D textures (coronal and sagittal views need them). */
  async upgrade3D() {
    if (!this.slice2D) return
    this._changed('upgrading')
    await new Promise((r) => setTimeout(r, 0)) // let the page show that it is working
    this.nv.uiData.max3D = this.max3D
    this.slice2D = false
    this.nv.updateGLVolume()
    this._makeDrawTexture()
    this.nv.drawScene()
    this._changed('upgraded')
  }

  /** Send a changed box (RAS, inclusive; null = everything) of the composite to the GPU. */
  uploadDrawing(box) {
    const nv = this.nv
    const gl = nv.gl
    if (!nv.drawTexture || !this.composite) return
    const [nx, ny, nz] = this.dims
    gl.activeTexture(TEXTURE7_DRAW)
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1)
    if (this.slice2D) {
      const z = this.vox[2]
      if (box && (z < box[2] || z > box[5])) return
      gl.bindTexture(gl.TEXTURE_2D, nv.drawTexture)
      gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, nx, ny, gl.RED, gl.UNSIGNED_BYTE, this.composite.subarray(z * nx * ny, (z + 1) * nx * ny))
      return
    }
    const b = box || [0, 0, 0, nx - 1, ny - 1, nz - 1]
    gl.bindTexture(gl.TEXTURE_3D, nv.drawTexture)
    gl.pixelStorei(gl.UNPACK_ROW_LENGTH, nx)
    gl.pixelStorei(gl.UNPACK_IMAGE_HEIGHT, ny)
    gl.pixelStorei(gl.UNPACK_SKIP_PIXELS, b[0])
    gl.pixelStorei(gl.UNPACK_SKIP_ROWS, b[1])
    gl.pixelStorei(gl.UNPACK_SKIP_IMAGES, b[2])
    gl.texSubImage3D(gl.TEXTURE_3D, 0, b[0], b[1], b[2], b[3] - b[0] + 1, b[4] - b[1] + 1, b[5] - b[2] + 1, gl.RED, gl.UNSIGNED_BYTE, this.composite)
    for (const p of [gl.UNPACK_ROW_LENGTH, gl.UNPACK_IMAGE_HEIGHT, gl.UNPACK_SKIP_PIXELS, gl.UNPACK_SKIP_ROWS, gl.UNPACK_SKIP_IMAGES]) gl.pixelStorei(p, 0)
  }

  redraw() {
    this.nv.drawScene()
    this._changed('draw')
  }

  /** Colours of drawing values: {value: [r, g, b, a]} (a 0..255). */
  setColors(colors) {
    const lut = new Uint8ClampedArray(256 * 4)
    for (const [value, rgba] of Object.entries(colors)) lut.set(rgba, Number(value) * 4)
    this.nv.drawLut = { lut, labels: Array.from({ length: 256 }, (_, i) => String(i)) }
    this.nv.refreshColormaps()
    this.nv.drawScene()
  }

  setOpacity(opacity) {
    this.nv.drawOpacity = opacity
    this.nv.drawScene()
  }

  /** The crosshair voxel (RAS, integers). */
  get vox() {
    const f = this.nv.scene.crosshairPos
    return [0, 1, 2].map((a) => Math.min(this.dims[a] - 1, Math.max(0, Math.round(f[a] * this.dims[a] - 0.5))))
  }

  setVox(vox) {
    const before = this.vox
    const clamped = vox.map((v, a) => Math.min(this.dims[a] - 1, Math.max(0, Math.round(v))))
    this.nv.scene.crosshairPos = this._frac(clamped)
    if (this.slice2D && clamped[2] !== before[2]) {
      // Only the 2D texture of the new slice (updateGLVolume would also redraw the scene).
      this.nv.refreshLayers(this.nv.volumes[0], 0)
      this.uploadDrawing(null)
    }
    this.nv.drawScene()
    this._changed('slice')
  }

  /** Move `delta` slices through the plane of `view`. */
  scroll(view, delta) {
    const v = this.vox
    v[NORMAL_AXIS[view]] += delta
    this.setVox(v)
  }

  async setLayout(name) {
    if (name !== 'axial' && this.slice2D) await this.upgrade3D()
    this.layout = name
    this.nv.opts.crosshairWidth = name === 'multi' ? 0.5 : 0
    this.nv.setSliceType(LAYOUTS[name])
    this._changed('layout')
  }

  get window() {
    const img = this.image
    return { center: (img.cal_max + img.cal_min) / 2, width: img.cal_max - img.cal_min }
  }

  setWindow(center, width) {
    const img = this.image
    width = Math.max(1, width)
    img.cal_min = center - width / 2
    img.cal_max = center + width / 2
    this.nv.updateGLVolume()
    if (this.slice2D) this.uploadDrawing(null)
    this._changed('window')
  }

  /** The view and RAS voxel (fractional) under a client point, or null. */
  pick(clientX, clientY) {
    const nv = this.nv
    const rect = this.canvas.getBoundingClientRect()
    const dpr = nv.uiData.dpr || 1
    const x = (clientX - rect.left) * dpr
    const y = (clientY - rect.top) * dpr
    const tile = nv.tileIndex(x, y)
    if (tile < 0) return null
    const view = nv.screenSlices[tile].axCorSag
    if (view > 2) return null
    const frac = nv.screenXY2TextureFrac(x, y, tile)
    if (frac[0] < 0) return null
    const vox = [0, 1, 2].map((a) => frac[a] * this.dims[a] - 0.5)
    // Snap the out-of-plane coordinate to the displayed slice.
    vox[NORMAL_AXIS[view]] = this.vox[NORMAL_AXIS[view]]
    return { view, vox }
  }

  /** Client position (relative to the canvas, CSS px) of a RAS voxel shown in `view`. */
  toScreen(vox, view) {
    const nv = this.nv
    const hit = nv.frac2canvasPosWithTile([0, 1, 2].map((a) => (vox[a] + 0.5) / this.dims[a]), view)
    if (!hit || nv.screenSlices[hit.tileIndex]?.axCorSag !== view) return null
    const dpr = nv.uiData.dpr || 1
    return [hit.pos[0] / dpr, hit.pos[1] / dpr]
  }

  /** Views shown now (0 axial, 1 coronal, 2 sagittal). */
  visibleViews() {
    return [...new Set(this.nv.screenSlices.map((s) => s.axCorSag).filter((v) => v <= 2))]
  }

  resize() {
    this.nv.resizeListener()
    this._changed('resize')
  }
}
