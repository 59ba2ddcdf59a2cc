// exp and log built from IEEE-754 binary64 +, -, *, / only. JavaScript has no fused multiply-add
// and rounds each of these exactly once, so these give the same bits on every engine and machine,
// which Math.exp / Math.log do not promise. Used wherever a loss decides a consensus result.

const LN2_HI = 6.93147180369123816490e-01
const LN2_LO = 1.90821492927058770002e-10
const INV_LN2 = 1.44269504088896338700e+00
const LN2 = 0.6931471805599453

const buf = new DataView(new ArrayBuffer(8))

/** 2^k for an integer k in the normal range, built from its bits. */
function pow2 (k: number): number {
  buf.setUint32(0, ((k + 1023) << 20) >>> 0)
  buf.setUint32(4, 0)
  return buf.getFloat64(0)
}

export function detExp (x: number): number {
  if (Number.isNaN(x)) return NaN
  if (x > 709.7) return Infinity
  if (x < -745.2) return 0
  // x = k·ln2 + r with |r| <= ln2/2; the split constant keeps k·ln2 exact.
  const k = Math.floor(x * INV_LN2 + 0.5)
  const r = (x - k * LN2_HI) - k * LN2_LO
  // Taylor series of e^r to degree 13 (error < 1e-17 for |r| <= 0.35), Horner order fixed.
  let p = 1 / 6227020800
  p = p * r + 1 / 479001600
  p = p * r + 1 / 39916800
  p = p * r + 1 / 3628800
  p = p * r + 1 / 362880
  p = p * r + 1 / 40320
  p = p * r + 1 / 5040
  p = p * r + 1 / 720
  p = p * r + 1 / 120
  p = p * r + 1 / 24
  p = p * r + 1 / 6
  p = p * r + 0.5
  p = p * r + 1
  p = p * r + 1
  // Split the scale in two so subnormal results stay exact in their rounding.
  const k1 = Math.trunc(k / 2)
  return p * pow2(k1) * pow2(k - k1)
}

export function detLog (x: number): number {
  if (Number.isNaN(x) || x < 0) return NaN
  if (x === 0) return -Infinity
  if (x === Infinity) return Infinity
  let e = 0
  let m = x
  if (m < 2.2250738585072014e-308) { m *= 18014398509481984; e = -54 } // scale subnormals by 2^54
  buf.setFloat64(0, m)
  const hi = buf.getUint32(0)
  e += ((hi >>> 20) & 0x7ff) - 1023
  buf.setUint32(0, (hi & 0x000fffff) | 0x3ff00000)
  m = buf.getFloat64(0) // in [1, 2)
  if (m > Math.SQRT2) { m /= 2; e += 1 }
  // log(m) = 2·atanh(s), s = (m-1)/(m+1), |s| <= 0.1716; series to s^25.
  const s = (m - 1) / (m + 1)
  const s2 = s * s
  let p = 1 / 25
  for (let n = 23; n >= 1; n -= 2) p = p * s2 + 1 / n
  return e * LN2 + 2 * s * p
}
