// MedForge-Fusion: fold modules one at a time in canonical order. M1 = L1; at step t the candidate
// is a·M(t-1) + b·L(t), applied to lora_A and lora_B separately, and [a, b] minimises the mean
// per-task loss on the distilled sets seen so far plus an L1 penalty, found by pinned Nelder–Mead.
import { InvalidMergeOptionsError } from '../errors.ts'
import type { LoraModule, LoraPair } from '../lora-module.ts'
import { nelderMead } from '../optimizer/nelder-mead.ts'
import { byTask } from './evaluator.ts'
import type { CandidateEvaluator } from './evaluator.ts'
import { weightedSum } from './f32-ops.ts'
import type { OrderedInput } from './inputs.ts'
import type { CanonicalMethod } from './methods.ts'

type SearchMethod = Extract<CanonicalMethod, { name: 'medforge-fusion' | 'medforge-mixture' }>

export interface FusionStep {
  readonly cid: string
  /** [a, b] as applied (binary32); step 1 is [0, 1] with no search. */
  readonly coefficients: readonly [number, number]
  readonly loss: number
  readonly evaluations: number
}

/** A fold prefix: enough to resume the fold when later modules arrive (the node checkpoints these). */
export interface FusionState {
  readonly module: LoraModule
  readonly contributors: readonly OrderedInput[]
  readonly steps: readonly FusionStep[]
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
  let total = 0
  const groups = byTask(contributors)
  for (const group of groups) {
    let sum = 0
    for (const c of group) sum += await evaluate(c)
    total += sum / group.length
  }
  return total / groups.length
}

export function penalty (method: SearchMethod, a: number, b: number): number {
  return method.regularization * (Math.abs(a) + Math.abs(b)) / 2
}

export async function fusionStep<D> (state: FusionState | undefined, next: OrderedInput<D>, method: SearchMethod, evaluator: CandidateEvaluator<D>): Promise<FusionState> {
  if (state === undefined) {
    return { module: stripHeads(next.module), contributors: [next], steps: [{ cid: next.cid, coefficients: [0, 1], loss: NaN, evaluations: 0 }] }
  }
  const contributors = [...state.contributors, next] as OrderedInput<D>[]
  const search = await nelderMead(async ([a, b]) => {
    const fa = Math.fround(a!)
    const fb = Math.fround(b!)
    const candidate = combine(state.module, next.module, fa, fb)
    return await taskMeanLoss(c => evaluator.loss(candidate, c), contributors) + penalty(method, fa, fb)
  }, { x0: method.init, lower: method.lower, upper: method.upper, budget: method.budget })
  const a = Math.fround(search.x[0]!)
  const b = Math.fround(search.x[1]!)
  return {
    module: combine(state.module, next.module, a, b),
    contributors,
    steps: [...state.steps, { cid: next.cid, coefficients: [a, b], loss: search.loss, evaluations: search.evaluations.length }]
  }
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
