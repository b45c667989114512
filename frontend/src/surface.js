// A mask as a surface for the 3D view, and the counts that tell a mask is clean (pure;
// tests/surface.test.js). The surface is the voxels' own faces (every face between a set voxel
// and an unset one), so what the 3D view shows is exactly the mask: a stray voxel is a cube,
// a hole is a cavity, nothing is smoothed away.

// The six face directions: axis, side, and the face's four corners (offsets of the voxel's
// low corner, counter-clockwise seen from outside, so NiiVue's normals point out).
const FACES = [
  [0, -1, [[0, 0, 0], [0, 0, 1], [0, 1, 1], [0, 1, 0]]],
  [0, 1, [[1, 0, 0], [1, 1, 0], [1, 1, 1], [1, 0, 1]]],
  [1, -1, [[0, 0, 0], [1, 0, 0], [1, 0, 1], [0, 0, 1]]],
  [1, 1, [[0, 1, 0], [0, 1, 1], [1, 1, 1], [1, 1, 0]]],
  [2, -1, [[0, 0, 0], [0, 1, 0], [1, 1, 0], [1, 0, 0]]],
  [2, 1, [[0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]]],
]

/**
 * The boundary faces of a RAS uint8 mask within `box` ([x0, y0, z0, x1, y1, z1] inclusive,
 * null = all) as triangles: {positions: Float32Array (x, y, z in mm through the 4×4 row-major
 * `affine`, voxel centres at integer coordinates), triangles: Uint32Array, faces}.
 */
export function voxelSurface(mask, dims, box = null, affine = null) {
  const [nx, ny, nz] = dims
  const [x0, y0, z0, x1, y1, z1] = box || [0, 0, 0, nx - 1, ny - 1, nz - 1]
  const steps = [1, nx, nx * ny]
  const lim = [nx, ny, nz]
  let faces = 0
  const set = (x, y, z) => x >= 0 && y >= 0 && z >= 0 && x < nx && y < ny && z < nz && mask[x + nx * (y + ny * z)] === 1
  // Count first, so the arrays are allocated once.
  for (let z = z0; z <= z1; z++) {
    for (let y = y0; y <= y1; y++) {
      for (let x = x0, i = x0 + nx * (y + ny * z); x <= x1; x++, i++) {
        if (!mask[i]) continue
        const c = [x, y, z]
        for (const [axis, side] of FACES) {
          const n = c[axis] + side
          if (n < 0 || n >= lim[axis] || !mask[i + side * steps[axis]]) faces++
        }
      }
    }
  }
  const positions = new Float32Array(faces * 12)
  const triangles = new Uint32Array(faces * 6)
  const A = affine || [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
  let f = 0
  for (let z = z0; z <= z1; z++) {
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        if (!set(x, y, z)) continue
        const c = [x, y, z]
        for (const [axis, side, corners] of FACES) {
          const n = [x, y, z]
          n[axis] += side
          if (set(n[0], n[1], n[2])) continue
          for (let k = 0; k < 4; k++) {
            const p = [c[0] + corners[k][0] - 0.5, c[1] + corners[k][1] - 0.5, c[2] + corners[k][2] - 0.5]
            for (let r = 0; r < 3; r++) positions[f * 12 + k * 3 + r] = A[r][0] * p[0] + A[r][1] * p[1] + A[r][2] * p[2] + A[r][3]
          }
          const v = f * 4
          triangles.set([v, v + 1, v + 2, v, v + 2, v + 3], f * 6)
          f++
        }
      }
    }
  }
  // A mirrored affine (negative determinant) turns the faces inside out: flip their winding.
  if (affine && det3(A) < 0) for (let t = 0; t < triangles.length; t += 3) [triangles[t + 1], triangles[t + 2]] = [triangles[t + 2], triangles[t + 1]]
  return { positions, triangles, faces }
}

const det3 = (A) => A[0][0] * (A[1][1] * A[2][2] - A[1][2] * A[2][1]) - A[0][1] * (A[1][0] * A[2][2] - A[1][2] * A[2][0]) + A[0][2] * (A[1][0] * A[2][1] - A[1][1] * A[2][0])

/**
 * Connected pieces of a mask within `box` (26-connected: voxels touching by a corner are one
 * piece) and cavities (unset regions, 6-connected, that the mask closes off from the outside
 * of the box). A clean lesion mask has one piece and no cavity; more pieces are stray blobs.
 * Returns {pieces, sizes (voxels per piece, largest first), cavities, cavityVoxels}.
 */
export function topology(mask, dims, box) {
  if (!box) return { pieces: 0, sizes: [], cavities: 0, cavityVoxels: 0 }
  const [nx, ny] = dims
  // Work on the box padded by one unset voxel all round.
  const [x0, y0, z0, x1, y1, z1] = box
  const W = x1 - x0 + 3, H = y1 - y0 + 3, D = z1 - z0 + 3
  const grid = new Uint8Array(W * H * D)
  for (let z = z0; z <= z1; z++) {
    for (let y = y0; y <= y1; y++) {
      const src = x0 + nx * (y + ny * z), dst = 1 + W * (y - y0 + 1 + H * (z - z0 + 1))
      grid.set(mask.subarray(src, src + (x1 - x0 + 1)), dst)
    }
  }
  const label = new Int32Array(W * H * D)
  const queue = new Int32Array(W * H * D)
  const n26 = [], n6 = [[-1, 0, 0], [1, 0, 0], [0, -1, 0], [0, 1, 0], [0, 0, -1], [0, 0, 1]]
  for (let dz = -1; dz <= 1; dz++) for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) if (dx || dy || dz) n26.push([dx, dy, dz])
  const offsets = (ns) => ns.map(([dx, dy, dz]) => dx + W * (dy + H * dz))
  const o26 = offsets(n26), o6 = offsets(n6)
  // Grow a region of voxels equal to `value` from `seed`; the padding keeps indices in range
  // for set voxels (never on the pad); unset regions check the bounds.
  const grow = (seed, value, offs, id) => {
    let head = 0, tail = 0, size = 0, open = false
    queue[tail++] = seed
    label[seed] = id
    while (head < tail) {
      const p = queue[head++]
      size++
      const x = p % W, y = ((p - x) / W) % H, z = (p - x - W * y) / (W * H)
      if (x === 0 || y === 0 || z === 0 || x === W - 1 || y === H - 1 || z === D - 1) {
        open = true
        if (value) continue
      }
      for (const o of offs) {
        const q = p + o
        if (q < 0 || q >= grid.length || label[q] || grid[q] !== value) continue
        // an unset region's neighbours must be real neighbours (no wrap around the rows)
        if (!value) {
          const qx = q % W, qy = ((q - qx) / W) % H
          if (Math.abs(qx - x) > 1 || Math.abs(qy - y) > 1) continue
        }
        label[q] = id
        queue[tail++] = q
      }
    }
    return { size, open }
  }
  const sizes = []
  let cavities = 0, cavityVoxels = 0, id = 0
  for (let p = 0; p < grid.length; p++) {
    if (label[p]) continue
    const value = grid[p]
    const { size, open } = grow(p, value, value ? o26 : o6, ++id)
    if (value) sizes.push(size)
    else if (!open) {
      cavities++
      cavityVoxels += size
    }
  }
  sizes.sort((a, b) => b - a)
  return { pieces: sizes.length, sizes, cavities, cavityVoxels }
}
