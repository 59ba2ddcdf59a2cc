// Calibration of the Gaussian mechanism by the analytic method of Balle & Wang (ICML 2018): the
// smallest sigma for which adding N(0, sigma²) to a query of L2 sensitivity Δ is (ε, δ)-DP, for any
// ε > 0 (the classical sqrt(2 ln(1.25/δ)) bound only holds for ε < 1 and is looser).

/** erfc with relative error below 1.2e-7 everywhere (Numerical Recipes' Chebyshev fit). */
export function erfc (x: number): number {
  const z = Math.abs(x)
  const t = 1 / (1 + 0.5 * z)
  const r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
  return x >= 0 ? r : 2 - r
}

/** Standard normal CDF. */
export function normalCdf (x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2)
}

/** The δ the Gaussian mechanism with noise sigma achieves at ε, for sensitivity Δ. */
export function gaussianDelta (sigma: number, epsilon: number, sensitivity: number): number {
  const a = sensitivity / (2 * sigma)
  const b = epsilon * sigma / sensitivity
  return normalCdf(a - b) - Math.exp(epsilon) * normalCdf(-a - b)
}

export function calibrateGaussianSigma (epsilon: number, delta: number, sensitivity: number): number {
  if (!(epsilon > 0) || !(delta > 0 && delta < 1) || !(sensitivity > 0)) throw new RangeError(`need epsilon > 0, 0 < delta < 1, sensitivity > 0 (got ${epsilon}, ${delta}, ${sensitivity})`)
  let lo = 1e-6 * sensitivity
  let hi = 1e6 * sensitivity
  for (let i = 0; i < 200; i++) {
    const mid = Math.sqrt(lo * hi)
    if (gaussianDelta(mid, epsilon, sensitivity) > delta) lo = mid
    else hi = mid
  }
  return hi
}
