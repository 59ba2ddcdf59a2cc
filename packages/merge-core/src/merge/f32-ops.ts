// Elementwise binary32 kernels. Each operation is rounded to binary32 exactly once: a product of
// two binary32 values is exact in binary64 and Math.fround rounds it once; a sum of two binary32
// values computed in binary64 and rounded to binary32 equals the correctly rounded binary32 sum.
// Sums run over inputs in canonical order, element by element, never reassociated.
import { weightedSumSimd } from './f32-simd.ts'

/** out[j] = Σ_i w_i·x_i[j], in input order, each product and each partial sum rounded to binary32. */
export function weightedSum (xs: readonly Float32Array[], weights: readonly number[], simd = true): Float32Array {
  const n = xs[0]!.length
  const out = new Float32Array(n)
  const ws = weights.map(w => Math.fround(w))
  // The same arithmetic four lanes at a time (f32-simd.ts); the scalar loop takes the rest.
  const done = simd && n >= 64 && weightedSumSimd(xs, ws, out, n - (n % 4)) ? n - (n % 4) : 0
  const w0 = ws[0]!
  const x0 = xs[0]!
  for (let j = done; j < n; j++) out[j] = w0 * x0[j]!
  for (let i = 1; i < xs.length; i++) {
    const w = ws[i]!
    const x = xs[i]!
    for (let j = done; j < n; j++) out[j] = out[j]! + Math.fround(w * x[j]!)
  }
  return out
}

/** A copy of x with all but the k largest magnitudes set to zero (ties: the lower index is kept). */
export function keepTopK (x: Float32Array, k: number): Float32Array {
  const out = new Float32Array(x.length)
  if (k <= 0) return out
  if (k >= x.length) { out.set(x); return out }
  const mags = new Float32Array(x.length)
  for (let j = 0; j < x.length; j++) mags[j] = Math.abs(x[j]!)
  const threshold = selectKth(mags, x.length - k) // the k-th largest magnitude
  let above = 0
  for (let j = 0; j < x.length; j++) if (Math.abs(x[j]!) > threshold) above++
  let tiesLeft = k - above
  for (let j = 0; j < x.length; j++) {
    const m = Math.abs(x[j]!)
    if (m > threshold || (m === threshold && tiesLeft-- > 0)) out[j] = x[j]!
  }
  return out
}

/**
 * The value that would sit at index `n` if `a` were sorted ascending (Hoare quickselect with a
 * median-of-three pivot, reordering `a` in place). Only the value is used, so the pivot rule does
 * not affect results, only speed: O(n) expected instead of a full sort.
 */
export function selectKth (a: Float32Array, n: number): number {
  let lo = 0
  let hi = a.length - 1
  while (hi > lo) {
    const mid = (lo + hi) >>> 1
    const x = a[lo]!; const y = a[mid]!; const z = a[hi]!
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y)
    let i = lo
    let j = hi
    while (i <= j) {
      while (a[i]! < pivot) i++
      while (a[j]! > pivot) j--
      if (i <= j) { const t = a[i]!; a[i] = a[j]!; a[j] = t; i++; j-- }
    }
    if (n <= j) hi = j
    else if (n >= i) lo = i
    else return a[n]!
  }
  return a[n]!
}

export type SignMethod = 'total' | 'frequency'

/**
 * TIES sign election and disjoint mean over already weighted task vectors: per element, the
 * elected sign is that of the sum ('total') or of the sign count ('frequency'), positive on a tie;
 * the result is the mean of the entries that carry the elected sign (zeros never do).
 */
export function electAndMerge (ts: readonly Float32Array[], method: SignMethod): Float32Array {
  const n = ts[0]!.length
  const out = new Float32Array(n)
  for (let j = 0; j < n; j++) {
    let vote = 0
    for (const t of ts) {
      const v = t[j]!
      vote = method === 'total' ? Math.fround(vote + v) : vote + Math.sign(v)
    }
    const elected = vote >= 0 ? 1 : -1
    let sum = 0
    let count = 0
    for (const t of ts) {
      const v = t[j]!
      if (Math.sign(v) === elected) { sum = Math.fround(sum + v); count++ }
    }
    out[j] = count === 0 ? 0 : Math.fround(sum / count)
  }
  return out
}

export function scale (x: Float32Array, w: number): Float32Array {
  const out = new Float32Array(x.length)
  const wf = Math.fround(w)
  for (let j = 0; j < x.length; j++) out[j] = wf * x[j]!
  return out
}
