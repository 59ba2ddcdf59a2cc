// MedForge-RegMean: the composite update of each LoRA layer is the least-squares fit to every
// contributor's own layer outputs on its own inputs (RegMean, Jin et al. 2023, applied to updates):
//   ΔW* = argmin Σᵢ wᵢ·‖Xᵢ·(ΔW − ΔWᵢ)ᵀ‖² = (Σᵢ wᵢ·ΔWᵢ·Gᵢ)·(Σᵢ wᵢ·Gᵢ)⁻¹,
// where Gᵢ is the second moment of the layer's inputs on contributor i's data (shipped with its
// distilled set). Where tasks' inputs differ, each task keeps its own update on its own inputs
// instead of sharing half of everyone's. Written exactly as a rank concatenation:
// ΔWᵢ·Gᵢ·G⁻¹ = sᵢ·Bᵢ·(Aᵢ·Gᵢ·G⁻¹), so the composite is a LoRA module of rank Σ rᵢ.
// Each Gram is normalised to trace n (a contributor cannot buy weight by scaling its statistics)
// and its off-diagonal entries are scaled by `shrink` (RegMean's α) so that G is well conditioned.
// A contributor without statistics counts with the identity (its update kept where nobody else's
// inputs are): the composite is then the weighted mean of the updates.
import { IncompatibleModulesError, InvalidMergeOptionsError } from '../errors.ts'
import { loraScaling, withRank } from '../lora-config.ts'
import type { LoraModule, LoraPair } from '../lora-module.ts'
import { ldlFactor, ldlSolve } from '../spd-solve.ts'
import type { LdlFactor } from '../spd-solve.ts'
import { formatShape, sameShape } from '../tensor.ts'
import type { F32Tensor } from '../tensor.ts'
import type { OrderedInput } from './inputs.ts'
import type { CanonicalMethod, RegmeanBalance } from './methods.ts'

type RegmeanCanonical = Extract<CanonicalMethod, { name: 'medforge-regmean' }>

/** Added to every diagonal entry of the (trace-n) sum, so that the system is always solvable. */
const RIDGE = 1e-4

/**
 * A module's sample count counts at most this many times its task's smallest: a member that
 * overstates its count (a number no one can check) cannot take its whole task's say, while honest
 * sites up to 16 times larger than the smallest are weighed as they are.
 */
export const SAMPLE_RATIO_CAP = 16

/**
 * Contributor weights: each task's modules share 1, in proportion to their training samples
 * (bounded) or equally; or every module 1. Binary64, from the input set alone.
 */
export function regmeanWeights (inputs: readonly OrderedInput[], balance: RegmeanBalance): number[] {
  if (balance === 'module') return inputs.map(() => 1)
  const count = (i: OrderedInput): number => {
    if (balance === 'task') return 1
    const n = i.sampleCount
    if (n === undefined || !Number.isSafeInteger(n) || n <= 0) throw new InvalidMergeOptionsError(`medforge-regmean balance "samples" needs a positive sample count for ${i.label ?? i.cid}`)
    return n
  }
  const smallest = new Map<string, number>()
  for (const i of inputs) smallest.set(i.task ?? '', Math.min(smallest.get(i.task ?? '') ?? Infinity, count(i)))
  const bounded = inputs.map(i => Math.min(count(i), SAMPLE_RATIO_CAP * smallest.get(i.task ?? '')!))
  const totals = new Map<string, number>()
  inputs.forEach((i, k) => totals.set(i.task ?? '', (totals.get(i.task ?? '') ?? 0) + bounded[k]!))
  return inputs.map((i, k) => bounded[k]! / totals.get(i.task ?? '')!)
}

/** wᵢ·Gᵢ normalised to trace n with off-diagonals scaled by `shrink` (identity when absent), binary64. */
function weightedGram (gram: F32Tensor | undefined, n: number, shrink: number, weight: number): Float64Array {
  const out = new Float64Array(n * n)
  if (gram === undefined) {
    for (let i = 0; i < n; i++) out[i * n + i] = weight
    return out
  }
  let trace = 0
  for (let i = 0; i < n; i++) trace += gram.data[i * n + i]!
  if (!(trace > 0 && Number.isFinite(trace))) throw new InvalidMergeOptionsError(`medforge-regmean: input statistics with trace ${trace} (they must be a positive semi-definite second moment)`)
  const k = weight * n / trace
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) out[i * n + j] = (i === j ? k : k * shrink) * gram.data[i * n + j]!
  }
  return out
}

/**
 * S + ridge·I factorised, the ridge raised tenfold (the same steps on every peer) while S is not
 * positive-definite: statistics that each pass the distilled set's semi-definiteness check within
 * its tolerance can still sum to a slightly indefinite S, and one such module must not stop every
 * peer's merge.
 */
function ridgedFactor (S: Float64Array, n: number, layer: string): LdlFactor {
  for (let ridge = RIDGE; ridge <= 1e6; ridge *= 10) {
    const ridged = Float64Array.from(S)
    for (let i = 0; i < n; i++) ridged[i * n + i] = ridged[i * n + i]! + ridge
    const factor = ldlFactor(ridged, n)
    if (factor !== undefined) return factor
  }
  throw new InvalidMergeOptionsError(`medforge-regmean: the input statistics of ${layer} are not positive-definite`)
}

/**
 * `reweigh` lets an experiment change the contributor weights of one layer (the network never
 * passes it; scripts/experiments/regmean.ts measures per-task relative-error weights with it).
 */
export function regmean (inputs: readonly OrderedInput[], method: RegmeanCanonical, reweigh?: (layer: string, weights: readonly number[]) => readonly number[]): { module: LoraModule, weights: number[] } {
  const weights = regmeanWeights(inputs, method.balance)
  const first = inputs[0]!.module
  const layers = new Map<string, LoraPair>()
  let rank = 0
  for (const [layer, p0] of first.layers) {
    const n = p0.A.shape[1]!
    const rows = p0.B.shape[0]!
    const layerWeights = reweigh === undefined ? weights : reweigh(layer, weights)
    const grams = inputs.map((input, i) => {
      const gram = input.inputGrams?.get(layer)
      if (gram !== undefined && !sameShape(gram.shape, [n, n])) throw new IncompatibleModulesError(`input statistics of ${layer}`, `${input.label ?? input.cid} gives ${formatShape(gram.shape)}, the layer takes ${n} inputs`)
      return weightedGram(gram, n, method.shrink, layerWeights[i]!)
    })
    const S = new Float64Array(n * n)
    for (const g of grams) for (let k = 0; k < S.length; k++) S[k] = S[k]! + g[k]!
    const factor = ridgedFactor(S, n, layer)
    const r = inputs.reduce((sum, input) => sum + input.module.layers.get(layer)!.A.shape[0]!, 0)
    const A = new Float32Array(r * n)
    const B = new Float32Array(rows * r)
    let offset = 0
    inputs.forEach((input, idx) => {
      const pair = input.module.layers.get(layer)!
      const ri = pair.A.shape[0]!
      const g = grams[idx]!
      // M = wᵢ·G̃ᵢ·Aᵢᵀ [n, rᵢ]; X = S⁻¹·M; the new rows of A are sᵢ·Xᵀ.
      const M = new Float64Array(n * ri)
      for (let a = 0; a < n; a++) {
        for (let c = 0; c < ri; c++) {
          let v = 0
          for (let k = 0; k < n; k++) v += g[a * n + k]! * pair.A.data[c * n + k]!
          M[a * ri + c] = v
        }
      }
      const X = ldlSolve(factor, M, ri)
      const s = loraScaling(input.module.config)
      for (let c = 0; c < ri; c++) for (let a = 0; a < n; a++) A[(offset + c) * n + a] = Math.fround(s * X[a * ri + c]!)
      for (let o = 0; o < rows; o++) B.set(pair.B.data.subarray(o * ri, (o + 1) * ri), o * r + offset)
      offset += ri
    })
    rank = Math.max(rank, r)
    layers.set(layer, { A: { shape: [r, n], data: A }, B: { shape: [rows, r], data: B } })
  }
  return { module: { config: withRank(first.config, rank, rank), layers, heads: new Map() }, weights }
}
