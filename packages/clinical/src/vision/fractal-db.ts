// Formula-driven supervised pretraining data (FractalDB, Kataoka et al., ACCV 2020): each category
// is an iterated function system of 2–4 random affine maps; instances are renders of perturbed
// parameters with random flips. No dataset, no licence, no patient: only a seed.
import { InvalidDatasetError } from '../errors.ts'
import { Xoshiro128 } from '@medforge/merge-core'

export interface FractalSpec {
  readonly categories: number
  readonly instances: number
  readonly side: number
  readonly points?: number
  readonly seed: string
}

type Affine = [number, number, number, number, number, number]

/** Renders an IFS by the chaos game into a side×side image with values in [0, 1]. */
export function renderIfs (maps: readonly Affine[], side: number, points: number, rng: Xoshiro128): Float32Array | undefined {
  const weights = maps.map(m => Math.abs(m[0] * m[3] - m[1] * m[2]) + 1e-3)
  const total = weights.reduce((a, b) => a + b, 0)
  const xs = new Float64Array(points)
  const ys = new Float64Array(points)
  let x = 0
  let y = 0
  for (let i = 0; i < points + 20; i++) {
    let r = rng.uniform() * total
    let k = 0
    while (k < maps.length - 1 && r > weights[k]!) { r -= weights[k]!; k++ }
    const m = maps[k]!
    const nx = m[0] * x + m[1] * y + m[4]
    const ny = m[2] * x + m[3] * y + m[5]
    x = nx; y = ny
    if (!Number.isFinite(x) || Math.abs(x) > 1e6 || Math.abs(y) > 1e6) return undefined
    if (i >= 20) { xs[i - 20] = x; ys[i - 20] = y }
  }
  let minX = Infinity; let maxX = -Infinity; let minY = Infinity; let maxY = -Infinity
  for (let i = 0; i < points; i++) { minX = Math.min(minX, xs[i]!); maxX = Math.max(maxX, xs[i]!); minY = Math.min(minY, ys[i]!); maxY = Math.max(maxY, ys[i]!) }
  const span = Math.max(maxX - minX, maxY - minY)
  if (!(span > 1e-9)) return undefined
  const img = new Float32Array(side * side)
  const margin = 2
  const scale = (side - 2 * margin - 1) / span
  for (let i = 0; i < points; i++) {
    const px = Math.round(margin + (xs[i]! - minX) * scale)
    const py = Math.round(margin + (ys[i]! - minY) * scale)
    img[py * side + px] = img[py * side + px]! + 1
  }
  let filled = 0
  for (let i = 0; i < img.length; i++) {
    if (img[i]! > 0) filled++
    img[i] = Math.min(1, img[i]! / 3)
  }
  // FractalDB keeps systems whose renders fill enough of the frame (not a dot, not a line).
  return filled / img.length >= 0.08 ? img : undefined
}

function randomSystem (rng: Xoshiro128): Affine[] {
  const n = 2 + (rng.nextU32() % 3)
  return Array.from({ length: n }, () => Array.from({ length: 6 }, () => rng.uniform() * 2 - 1) as Affine)
}

export interface FractalData { readonly images: Float32Array, readonly labels: Int32Array, readonly count: number, readonly side: number }

export function generateFractalDb (spec: FractalSpec): FractalData {
  const rng = Xoshiro128.fromString(`medforge-fractaldb/v1|${spec.seed}`)
  const px = spec.side * spec.side
  const count = spec.categories * spec.instances
  const images = new Float32Array(count * px)
  const labels = new Int32Array(count)
  const points = spec.points ?? 2000
  for (let c = 0; c < spec.categories; c++) {
    let system: Affine[] | undefined
    for (let tries = 0; system === undefined; tries++) {
      if (tries > 10_000) throw new InvalidDatasetError('could not find a fractal that fills the frame')
      const candidate = randomSystem(rng)
      if (renderIfs(candidate, spec.side, points, rng) !== undefined) system = candidate
    }
    for (let i = 0; i < spec.instances; i++) {
      let img: Float32Array | undefined
      for (let tries = 0; img === undefined; tries++) {
        // Instance variation: each parameter scaled by a factor in [0.9, 1.1] (after a few
        // failures, the category's own system), then a random flip.
        const jitter = tries < 5 ? system.map(m => m.map(v => v * (0.9 + 0.2 * rng.uniform())) as Affine) : system
        img = renderIfs(jitter, spec.side, points, rng)
      }
      const flipX = rng.nextU32() % 2 === 1
      const flipY = rng.nextU32() % 2 === 1
      const k = c * spec.instances + i
      for (let yy = 0; yy < spec.side; yy++) {
        for (let xx = 0; xx < spec.side; xx++) {
          images[k * px + yy * spec.side + xx] = img[(flipY ? spec.side - 1 - yy : yy) * spec.side + (flipX ? spec.side - 1 - xx : xx)]!
        }
      }
      labels[k] = c
    }
  }
  return { images, labels, count, side: spec.side }
}
