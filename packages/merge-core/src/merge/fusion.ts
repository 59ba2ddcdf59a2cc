// MedForge-Fusion: fold modules one at a time in canonical order. M1 = L1; at step t the candidate
// is a·M(t-1) + b·L(t), and [a, b] minimises the mean per-task loss on the distilled sets seen so
// far plus an L1 penalty, found by pinned Nelder–Mead. Two spaces for the combination:
// - medforge-fusion (the reference's rule): a and b scale lora_A and lora_B separately, so the
//   composite's B·A = a²·B_M·A_M + b²·B_L·A_L + a·b·(B_M·A_L + B_L·A_M): cross terms between
//   unrelated modules;
// - medforge-fusion-product: a and b scale the updates themselves, ΔW = a·ΔW_M + b·ΔW_L, exactly,
//   by concatenating ranks (PEFT's combination_type "cat"): no cross terms, and the composite's
//   rank is the sum of its contributors' ranks.
import { InvalidMergeOptionsError } from '../errors.ts'
import type { LoraModule, LoraPair } from '../lora-module.ts'
import { loraScaling, withRank } from '../lora-config.ts'
import { nelderMead } from '../optimizer/nelder-mead.ts'
import { byTask } from './evaluator.ts'
import type { CandidateEvaluator, Predictions } from './evaluator.ts'
import { detLog } from '../det-math.ts'
import { weightedSum } from './f32-ops.ts'
import type { OrderedInput } from './inputs.ts'
import type { CanonicalMethod } from './methods.ts'

type SearchMethod = Extract<CanonicalMethod, { name: 'medforge-fusion' | 'medforge-fusion-product' | 'medforge-mixture' }>

/** The combination rule of a Fusion method. */
export function combinerOf (method: SearchMethod): typeof combine {
  return method.name === 'medforge-fusion-product' ? combineProduct : combine
}

export interface FusionStep {
  readonly cid: string
  /** [a, b] as applied (binary32); step 1 is [0, 1] with no search. */
  readonly coefficients: readonly [number, number]
  readonly loss: number
  readonly evaluations: number
  /** Each task's objective (mean over its contributors) at [a, b]: the lineage's per-task scores. */
  readonly tasks?: Readonly<Record<string, number>>
}

/** A fold prefix: enough to resume the fold when later modules arrive (the node checkpoints these). */
export interface FusionState {
  readonly module: LoraModule
  readonly contributors: readonly OrderedInput[]
  readonly steps: readonly FusionStep[]
}

/**
 * a·ΔW_M + b·ΔW_L exactly: A = [fround(a·s_M)·A_M ; fround(b·s_L)·A_L] (rows), B = [B_M | B_L]
 * (columns, copied), scaling 1 (lora_alpha = r). Each product rounded once to binary32.
 */
export function combineProduct (m: LoraModule, l: LoraModule, a: number, b: number): LoraModule {
  const sa = Math.fround(a * loraScaling(m.config))
  const sb = Math.fround(b * loraScaling(l.config))
  const layers = new Map<string, LoraPair>()
  let rank = 0
  for (const [layer, pm] of m.layers) {
    const pl = l.layers.get(layer)!
    const [rm, cols] = pm.A.shape as [number, number]
    const rl = pl.A.shape[0]!
    const rows = pm.B.shape[0]!
    const r = rm + rl
    rank = Math.max(rank, r)
    const A = new Float32Array(r * cols)
    for (let i = 0; i < rm * cols; i++) A[i] = Math.fround(sa * pm.A.data[i]!)
    for (let i = 0; i < rl * cols; i++) A[rm * cols + i] = Math.fround(sb * pl.A.data[i]!)
    const B = new Float32Array(rows * r)
    for (let o = 0; o < rows; o++) {
      B.set(pm.B.data.subarray(o * rm, (o + 1) * rm), o * r)
      B.set(pl.B.data.subarray(o * rl, (o + 1) * rl), o * r + rm)
    }
    layers.set(layer, { A: { shape: [r, cols], data: A }, B: { shape: [rows, r], data: B } })
  }
  return { config: withRank(m.config, rank, rank), layers, heads: new Map() }
}

export function combine (m: LoraModule, l: LoraModule, a: number, b: number): LoraModule {
  const layers = new Map<string, LoraPair>()
  for (const [layer, pm] of m.layers) {
    const pl = l.layers.get(layer)!
    layers.set(layer, {
      A: { shape: pm.A.shape, data: weightedSum([pm.A.data, pl.A.data], [a, b]) },
      B: { shape: pm.B.shape, data: weightedSum([pm.B.data, pl.B.data], [a, b]) }
    })
  }
  return { config: m.config, layers, heads: new Map() }
}

/** Mean over tasks of the mean loss over each task's contributors, summed in a fixed order (binary64). */
export async function taskMeanLoss<D> (evaluate: (c: OrderedInput<D>) => number | Promise<number>, contributors: readonly OrderedInput<D>[]): Promise<number> {
  return meanOf(await taskLosses(evaluate, contributors))
}

/** Each task's mean loss over its contributors, in the canonical task order. */
export async function taskLosses<D> (evaluate: (c: OrderedInput<D>) => number | Promise<number>, contributors: readonly OrderedInput<D>[]): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  for (const group of byTask(contributors)) {
    let sum = 0
    for (const c of group) sum += await evaluate(c)
    out.set(group[0]!.task ?? '', sum / group.length)
  }
  return out
}

function meanOf (perTask: ReadonlyMap<string, number>): number {
  let total = 0
  for (const v of perTask.values()) total += v
  return total / perTask.size
}

/** How steeply a candidate is pushed back per unit of a task's objective beyond the tolerance. */
const TOLERANCE_PENALTY = 100

export function penalty (method: SearchMethod, a: number, b: number): number {
  return method.regularization * (Math.abs(a) + Math.abs(b)) / 2
}

/** KL(own ‖ candidate), averaged over samples, in binary64 with the deterministic log. */
export function predictionKl (own: Predictions, candidate: Predictions): number {
  const n = own.labels.length
  const k = own.classes
  let sum = 0
  for (let i = 0; i < n * k; i++) {
    const p = own.probabilities[i]!
    if (p > 0) sum += p * (detLog(p) - detLog(Math.max(candidate.probabilities[i]!, KL_FLOOR)))
  }
  return n === 0 ? 0 : sum / n
}

/** Candidate probabilities below this count as this (a zero would make the KL infinite). */
const KL_FLOOR = 1e-12

/** The per-contributor score a fold minimises, by the method's objective. */
function objectiveOf<D> (method: SearchMethod, evaluator: CandidateEvaluator<D>): (candidate: LoraModule, c: OrderedInput<D>) => Promise<number> {
  if (method.name !== 'medforge-fusion-product' || method.objective === 'loss') return async (candidate, c) => await evaluator.loss(candidate, c)
  const predict = evaluator.predict?.bind(evaluator)
  if (predict === undefined) throw new InvalidMergeOptionsError('the kl objective needs an evaluator with predict()')
  const own = new Map<string, Predictions>()
  return async (candidate, c) => {
    let reference = own.get(c.cid)
    if (reference === undefined) {
      reference = await predict(c.module, c)
      own.set(c.cid, reference)
    }
    return predictionKl(reference, await predict(candidate, c))
  }
}

export async function fusionStep<D> (state: FusionState | undefined, next: OrderedInput<D>, method: SearchMethod, evaluator: CandidateEvaluator<D>): Promise<FusionState> {
  if (state === undefined) {
    return { module: stripHeads(next.module), contributors: [next], steps: [{ cid: next.cid, coefficients: [0, 1], loss: NaN, evaluations: 0 }] }
  }
  const contributors = [...state.contributors, next] as OrderedInput<D>[]
  const combineWith = combinerOf(method)
  const score = objectiveOf(method, evaluator)
  const limits = method.name === 'medforge-fusion-product' && method.tolerance !== undefined ? await taskLimits(state, next, contributors, score, method.tolerance) : undefined
  const search = await nelderMead(async ([a, b]) => {
    const fa = Math.fround(a!)
    const fb = Math.fround(b!)
    const candidate = combineWith(state.module, next.module, fa, fb)
    if (limits === undefined) return await taskMeanLoss(async c => await score(candidate, c), contributors) + penalty(method, fa, fb)
    const perTask = await taskLosses(async c => await score(candidate, c), contributors)
    let excess = 0
    for (const [task, v] of perTask) excess += Math.max(0, v - limits.get(task)!)
    return meanOf(perTask) + penalty(method, fa, fb) + TOLERANCE_PENALTY * excess
  }, { x0: method.init, lower: method.lower, upper: method.upper, budget: method.budget })
  const a = Math.fround(search.x[0]!)
  const b = Math.fround(search.x[1]!)
  const module = combineWith(state.module, next.module, a, b)
  // The lineage's per-task scores at the point chosen (not counted in the search's evaluations).
  const tasks = Object.fromEntries(await taskLosses(async c => await score(module, c), contributors))
  return {
    module,
    contributors,
    steps: [...state.steps, { cid: next.cid, coefficients: [a, b], loss: search.loss, evaluations: search.evaluations.length, tasks }]
  }
}

/**
 * Each task's worst acceptable objective at this step: a task the composite already serves, what
 * the previous composite scores on its contributors (the arriving module included) plus the
 * tolerance; a new task, what the arriving module alone scores on its own set plus the tolerance.
 */
async function taskLimits<D> (state: FusionState, next: OrderedInput<D>, contributors: readonly OrderedInput<D>[], score: (candidate: LoraModule, c: OrderedInput<D>) => Promise<number>, tolerance: number): Promise<Map<string, number>> {
  const seen = new Set(state.contributors.map(c => c.task ?? ''))
  const previous = await taskLosses(async c => await score(state.module, c), contributors.filter(c => seen.has(c.task ?? '')))
  const limits = new Map([...previous].map(([task, v]) => [task, v + tolerance]))
  const task = next.task ?? ''
  if (!seen.has(task)) limits.set(task, await score(next.module, next) + tolerance)
  return limits
}

export async function fuse<D> (inputs: readonly OrderedInput<D>[], method: SearchMethod, evaluator: CandidateEvaluator<D>, from?: FusionState): Promise<FusionState> {
  let state = from
  const start = from?.contributors.length ?? 0
  for (let i = 0; i < start; i++) {
    if (from!.contributors[i]!.cid !== inputs[i]?.cid) throw new InvalidMergeOptionsError(`checkpoint is not a prefix of the inputs (position ${i})`)
  }
  for (const input of inputs.slice(start)) state = await fusionStep(state, input, method, evaluator)
  return state!
}

function stripHeads (m: LoraModule): LoraModule {
  return { config: m.config, layers: m.layers, heads: new Map() }
}
