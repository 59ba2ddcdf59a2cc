// A timing harness for ratios that hold from run to run on a shared machine: subject and baseline
// are sampled interleaved (A B A B …, so a noisy neighbour hits both alike), after a warm-up, each
// sample long enough to be above the timer's and the scheduler's noise (the operation is repeated
// inside a sample when it is short), and reported as median with min–max. tinybench and mitata run
// one task's samples back to back, which is exactly what made the old ratios swing (a slow minute
// lands on one side only), hence this small harness.

export interface Stats { readonly median: number, readonly min: number, readonly max: number, readonly samples: number }

export interface Pair { readonly subject: Stats, readonly baseline: Stats, /** median of the per-round ratios baseline / subject (time), i.e. subject speed relative to baseline */ readonly ratio: Stats }

export function statsOf (xs: readonly number[]): Stats {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return { median: s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, min: s[0]!, max: s.at(-1)!, samples: s.length }
}

/**
 * The nearest-rank percentile: the smallest sample with at least a fraction `p` of the samples at or
 * below it (p95 of 20 samples is the 19th smallest, not the largest).
 */
export function percentile (xs: readonly number[], p: number): number {
  if (xs.length === 0) throw new RangeError('percentile of no samples')
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length, Math.max(1, Math.ceil(p * s.length))) - 1]!
}

/** Seconds per call of `fn`: calls repeated inside one sample until it lasts at least `minSampleS`. */
async function sample (fn: () => unknown, calls: number): Promise<number> {
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < calls; i++) await fn()
  return Number(process.hrtime.bigint() - t0) / 1e9 / calls
}

async function callsFor (fn: () => unknown, minSampleS: number): Promise<number> {
  let calls = 1
  for (;;) {
    const t = await sample(fn, calls) * calls
    if (t >= minSampleS || calls >= 1 << 20) return calls
    calls = Math.min(1 << 20, Math.ceil(calls * Math.max(2, minSampleS / Math.max(t, 1e-6))))
  }
}

/**
 * Times `subject` and `baseline` interleaved: `warmup` rounds discarded, then `rounds` rounds of one
 * sample each. Times are seconds per call; the ratio is baseline time / subject time per round.
 */
export async function compare (subject: () => unknown, baseline: () => unknown, options: { rounds?: number, warmup?: number, minSampleS?: number } = {}): Promise<Pair> {
  const rounds = options.rounds ?? 7
  const minSampleS = options.minSampleS ?? 0.1
  const subjectCalls = await callsFor(subject, minSampleS)
  const baselineCalls = await callsFor(baseline, minSampleS)
  for (let i = 0; i < (options.warmup ?? 1); i++) { await sample(subject, subjectCalls); await sample(baseline, baselineCalls) }
  const s: number[] = []
  const b: number[] = []
  const r: number[] = []
  for (let i = 0; i < rounds; i++) {
    // Alternate which goes first, so neither always runs on a warmer cache.
    let ts: number
    let tb: number
    if (i % 2 === 0) {
      ts = await sample(subject, subjectCalls)
      tb = await sample(baseline, baselineCalls)
    } else {
      tb = await sample(baseline, baselineCalls)
      ts = await sample(subject, subjectCalls)
    }
    s.push(ts); b.push(tb); r.push(tb / ts)
  }
  return { subject: statsOf(s), baseline: statsOf(b), ratio: statsOf(r) }
}

/** Median [min–max] with a unit, for the tables. */
export function formatStats (x: Stats, scale: number, digits: number): string {
  return `${(x.median * scale).toFixed(digits)} [${(x.min * scale).toFixed(digits)}–${(x.max * scale).toFixed(digits)}]`
}

/**
 * Sustained memory bandwidth at a size: bytes copied per second between two preallocated buffers
 * (no allocation, no page faults inside the timing): the physical limit an elementwise merge of
 * that many bytes can approach. Returns a baseline function that copies `bytes` once.
 */
export function copyBaseline (bytes: number): () => void {
  const n = Math.max(1, Math.floor(bytes / 4))
  const src = new Float32Array(n).fill(1.5)
  const dst = new Float32Array(n)
  dst.set(src) // touch every page before timing
  return () => { dst.set(src) }
}
