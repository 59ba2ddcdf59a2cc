// Institution shards: a deterministic, seeded partition of a split across sites, either IID or
// label-skewed with per-class site proportions drawn from a Dirichlet(alpha) (small alpha, strong
// skew), as in the federated-learning literature.
import { detExp, detLog } from '@medforge/merge-core'
import { InvalidDatasetError } from '../errors.ts'
import { Xoshiro128 } from '@medforge/merge-core'

export interface ShardSpec {
  readonly sites: number
  /** undefined or Infinity: IID. */
  readonly alpha?: number
  readonly seed: string
}

/** Gamma(shape, 1) by Marsaglia–Tsang (boosted for shape < 1). */
export function gammaSample (shape: number, rng: Xoshiro128): number {
  if (shape < 1) return gammaSample(shape + 1, rng) * detExp(detLog(rng.uniformOpen()) / shape)
  const d = shape - 1 / 3
  const c = 1 / Math.sqrt(9 * d)
  for (;;) {
    let x: number
    let v: number
    do { x = rng.normal(); v = 1 + c * x } while (v <= 0)
    v = v * v * v
    const u = rng.uniformOpen()
    if (detLog(u) < 0.5 * x * x + d - d * v + d * detLog(v)) return d * v
  }
}

function shuffle (xs: number[], rng: Xoshiro128): number[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rng.nextU32() % (i + 1)
    const t = xs[i]!; xs[i] = xs[j]!; xs[j] = t
  }
  return xs
}

/** Indices of each site's shard; every index lands in exactly one site. */
export function shardIndices (labels: Int32Array, spec: ShardSpec): number[][] {
  if (!Number.isSafeInteger(spec.sites) || spec.sites < 1) throw new InvalidDatasetError(`sites must be a positive integer, got ${spec.sites}`)
  if (spec.alpha !== undefined && !(spec.alpha > 0)) throw new InvalidDatasetError(`alpha must be positive, got ${spec.alpha}`)
  const rng = Xoshiro128.fromString(`medforge-shards/v1|${spec.seed}|${spec.sites}|${spec.alpha ?? 'iid'}`)
  const sites: number[][] = Array.from({ length: spec.sites }, () => [])
  const classes = labels.reduce((m, l) => Math.max(m, l + 1), 0)
  for (let c = 0; c < classes; c++) {
    const members = shuffle(labels.reduce<number[]>((acc, l, i) => { if (l === c) acc.push(i); return acc }, []), rng)
    let weights: number[]
    if (spec.alpha === undefined || spec.alpha === Infinity) weights = new Array<number>(spec.sites).fill(1)
    else weights = Array.from({ length: spec.sites }, () => gammaSample(spec.alpha!, rng))
    const total = weights.reduce((a, b) => a + b, 0)
    let start = 0
    let acc = 0
    weights.forEach((w, s) => {
      acc += w
      const end = s === spec.sites - 1 ? members.length : Math.round(members.length * acc / total)
      sites[s]!.push(...members.slice(start, end))
      start = end
    })
  }
  return sites.map(s => s.sort((a, b) => a - b))
}
