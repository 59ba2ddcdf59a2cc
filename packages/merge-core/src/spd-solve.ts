// Symmetric positive-definite systems, solved by an LDLᵀ factorisation in binary64 with +, −, ×
// and ÷ only (no square root), each rounded once in a fixed order: the same bits on every engine,
// as a consensus merge needs.

/** An LDLᵀ factorisation of an n×n matrix: L unit lower-triangular (row-major), D its pivots. */
export interface LdlFactor { readonly n: number, readonly L: Float64Array, readonly D: Float64Array }

/** Factorises symmetric S [n·n]; undefined when a pivot is not positive (S not positive-definite). */
export function ldlFactor (S: ArrayLike<number>, n: number): LdlFactor | undefined {
  const L = new Float64Array(n * n)
  const D = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) {
      let s = S[i * n + j]!
      for (let k = 0; k < j; k++) s -= L[i * n + k]! * L[j * n + k]! * D[k]!
      L[i * n + j] = s / D[j]!
    }
    let d = S[i * n + i]!
    for (let k = 0; k < i; k++) d -= L[i * n + k]! * L[i * n + k]! * D[k]!
    if (!(d > 0) || !Number.isFinite(d)) return undefined
    D[i] = d
    L[i * n + i] = 1
  }
  return { n, L, D }
}

/** X with S·X = M, for M [n·r] row-major, from S's factorisation. */
export function ldlSolve (f: LdlFactor, M: ArrayLike<number>, r: number): Float64Array {
  const { n, L, D } = f
  const X = Float64Array.from(M as ArrayLike<number>)
  for (let c = 0; c < r; c++) {
    for (let i = 0; i < n; i++) {
      let s = X[i * r + c]!
      for (let k = 0; k < i; k++) s -= L[i * n + k]! * X[k * r + c]!
      X[i * r + c] = s
    }
    for (let i = 0; i < n; i++) X[i * r + c] = X[i * r + c]! / D[i]!
    for (let i = n - 1; i >= 0; i--) {
      let s = X[i * r + c]!
      for (let k = i + 1; k < n; k++) s -= L[k * n + i]! * X[k * r + c]!
      X[i * r + c] = s
    }
  }
  return X
}
