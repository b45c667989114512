import assert from 'node:assert/strict'
import { test } from 'node:test'
import { topology, voxelSurface } from '../src/surface.js'
import { bboxOfMask } from '../src/maskops.js'

const dims = [12, 10, 8]
const empty = () => new Uint8Array(dims[0] * dims[1] * dims[2])
const at = (x, y, z) => x + dims[0] * (y + dims[1] * z)
const cube = (m, [x0, y0, z0], s, v = 1) => {
  for (let z = z0; z < z0 + s; z++) for (let y = y0; y < y0 + s; y++) for (let x = x0; x < x0 + s; x++) m[at(x, y, z)] = v
}

test('a cube of 3³ voxels has 6 × 9 faces; one voxel 6; the faces sit on voxel borders in mm', () => {
  const m = empty()
  cube(m, [2, 2, 2], 3)
  const s = voxelSurface(m, dims, bboxOfMask(m, dims))
  assert.equal(s.faces, 54)
  assert.equal(s.triangles.length, 54 * 6)
  assert.equal(s.positions.length, 54 * 12)
  const xs = s.positions.filter((_, k) => k % 3 === 0)
  assert.equal(Math.min(...xs), 1.5)
  assert.equal(Math.max(...xs), 4.5)
  // through an affine: 2 mm voxels shifted by 10
  const mm = voxelSurface(m, dims, null, [[2, 0, 0, 10], [0, 2, 0, 0], [0, 0, 2, 0], [0, 0, 0, 1]])
  const mx = mm.positions.filter((_, k) => k % 3 === 0)
  assert.deepEqual([Math.min(...mx), Math.max(...mx)], [13, 19])
  const one = empty()
  one[at(0, 0, 0)] = 1 // at the image's corner: the border counts as outside
  assert.equal(voxelSurface(one, dims).faces, 6)
  assert.equal(voxelSurface(empty(), dims).faces, 0)
})

test('faces point outwards: the surface encloses a positive volume', () => {
  const m = empty()
  cube(m, [1, 1, 1], 4)
  const volume = (s) => {
    let v = 0
    for (let t = 0; t < s.triangles.length; t += 3) {
      const [a, b, c] = [0, 1, 2].map((k) => [...s.positions.subarray(s.triangles[t + k] * 3, s.triangles[t + k] * 3 + 3)])
      v += (a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0]) + a[2] * (b[0] * c[1] - b[1] * c[0])) / 6
    }
    return v
  }
  assert.ok(Math.abs(volume(voxelSurface(m, dims)) - 64) < 1e-6)
  const mirrored = voxelSurface(m, dims, null, [[-1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
  assert.ok(Math.abs(volume(mirrored) - 64) < 1e-6)
})

test('pieces: a stray voxel is a second piece, a corner touch is one piece; cavities are counted', () => {
  const m = empty()
  cube(m, [2, 2, 2], 4)
  assert.deepEqual(topology(m, dims, bboxOfMask(m, dims)), { pieces: 1, sizes: [64], cavities: 0, cavityVoxels: 0 })
  m[at(10, 8, 7)] = 1
  let t = topology(m, dims, bboxOfMask(m, dims))
  assert.equal(t.pieces, 2)
  assert.deepEqual(t.sizes, [64, 1])
  m[at(10, 8, 7)] = 0
  m[at(6, 6, 6)] = 1 // touches the cube's corner (5, 5, 5) only
  assert.equal(topology(m, dims, bboxOfMask(m, dims)).pieces, 1)
  m[at(6, 6, 6)] = 0
  m[at(3, 3, 3)] = 0 // inside: a cavity of one voxel
  m[at(4, 3, 3)] = 0
  t = topology(m, dims, bboxOfMask(m, dims))
  assert.equal(t.cavities, 1)
  assert.equal(t.cavityVoxels, 2)
  m[at(2, 3, 3)] = 0 // opened to the outside: no longer a cavity
  assert.equal(topology(m, dims, bboxOfMask(m, dims)).cavities, 0)
  assert.equal(topology(empty(), dims, null).pieces, 0)
})
