// xoshiro128** seeded from a sha256 of caller-given bytes: the project's one seeded sampler, a
// reproducible random stream for anything consensus-critical (DARE masks) and every seeded draw
// of data, weights and noise. Never seeded from a clock. The derived draws use +, -, x, / and
// the deterministic log only, so they give the same bits on every machine.
import { createHash } from 'node:crypto'
import { detLog } from './det-math.ts'

export class Xoshiro128 {
  #s0: number
  #s1: number
  #s2: number
  #s3: number

  constructor (seed: Uint8Array) {
    const h = createHash('sha256').update(seed).digest()
    this.#s0 = h.readUInt32LE(0)
    this.#s1 = h.readUInt32LE(4)
    this.#s2 = h.readUInt32LE(8)
    this.#s3 = h.readUInt32LE(12)
    if ((this.#s0 | this.#s1 | this.#s2 | this.#s3) === 0) this.#s0 = 1 // the all-zero state is a fixed point
  }

  static fromString (seed: string): Xoshiro128 {
    return new Xoshiro128(Buffer.from(seed, 'utf8'))
  }

  /** Fills `out` with the next outputs: the same stream as repeated nextU32(), with the state kept in locals. */
  fill (out: Uint32Array): Uint32Array {
    let s0 = this.#s0; let s1 = this.#s1; let s2 = this.#s2; let s3 = this.#s3
    for (let i = 0; i < out.length; i++) {
      out[i] = Math.imul(rotl(Math.imul(s1, 5), 7), 9)
      const t = s1 << 9
      s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t
      s3 = rotl(s3, 11)
    }
    this.#s0 = s0; this.#s1 = s1; this.#s2 = s2; this.#s3 = s3
    return out
  }

  /** The next unsigned 32-bit output. */
  nextU32 (): number {
    const result = Math.imul(rotl(Math.imul(this.#s1, 5), 7), 9) >>> 0
    const t = this.#s1 << 9
    this.#s2 ^= this.#s0
    this.#s3 ^= this.#s1
    this.#s1 ^= this.#s2
    this.#s0 ^= this.#s3
    this.#s2 ^= t
    this.#s3 = rotl(this.#s3, 11)
    return result
  }

  /** Uniform on [0, 1). */
  uniform (): number {
    return this.nextU32() / 4294967296
  }

  /** Uniform on the open interval (0, 1): safe to take the log of. */
  uniformOpen (): number {
    return (this.nextU32() + 0.5) / 4294967296
  }

  /** A standard normal draw (Marsaglia's polar method, deterministic log). */
  normal (): number {
    for (;;) {
      const u = 2 * this.uniformOpen() - 1
      const v = 2 * this.uniformOpen() - 1
      const s = u * u + v * v
      if (s > 0 && s < 1) return u * Math.sqrt(-2 * detLog(s) / s)
    }
  }

  /** An approximately standard normal draw from +, - only (Irwin-Hall: 12 uniforms - 6). */
  irwinHall (): number {
    let sum = 0
    for (let i = 0; i < 12; i++) sum += this.uniform()
    return sum - 6
  }
}

function rotl (x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}
