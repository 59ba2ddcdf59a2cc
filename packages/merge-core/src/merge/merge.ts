// The one entry point: a set of modules and a method in, a composite and its state root out.
// The result depends only on the set of modules (see canonicalOrder), never on argument order.
import { InvalidMergeOptionsError } from '../errors.ts'
import type { LoraModule } from '../lora-module.ts'
import { mergeDataFree } from './data-free.ts'
import type { CandidateEvaluator } from './evaluator.ts'
import { fuse } from './fusion.ts'
import type { FusionState, FusionStep } from './fusion.ts'
import { assertCompatible, canonicalOrder } from './inputs.ts'
import type { MergeInput, OrderedInput } from './inputs.ts'
import { canonicalMethod } from './methods.ts'
import type { CanonicalMethod, MergeMethod } from './methods.ts'
import { mix } from './mixture.ts'
import { regmean } from './regmean.ts'
import { ENGINE_VERSION, stateRoot } from './state-root.ts'
import type { Composite } from './state-root.ts'

export interface MergeResult {
  readonly engineVersion: string
  readonly method: CanonicalMethod
  /** Inputs in canonical order (each with its CID); their heads travel with them, unmerged. */
  readonly inputs: readonly OrderedInput[]
  readonly composite: Composite
  /** Per-input weights of the weighted data-free methods, or the Mixture weights. */
  readonly weights?: readonly number[]
  /** Coefficients found at each step of Fusion / Mixture. */
  readonly steps?: readonly FusionStep[]
  readonly stateRoot: string
}

export interface MergeOptions<D> {
  readonly evaluator?: CandidateEvaluator<D>
  /** A Fusion checkpoint whose contributors are a prefix of the canonical order: the fold resumes there. */
  readonly resumeFrom?: FusionState
}

/** A merge's result before its state root: what the arithmetic produces (see mergeModules). */
export type MergedComposite = Omit<MergeResult, 'stateRoot'>

export async function mergeModules<D> (inputs: readonly MergeInput<D>[], method: MergeMethod, options: MergeOptions<D> = {}): Promise<MergeResult> {
  const merged = await mergeComposite(inputs, method, options)
  // A weighted method's input weights are committed to; a Mixture's weights are its composite, hashed with it.
  const inputWeights = merged.composite.kind === 'mixture' ? undefined : merged.weights
  return { ...merged, stateRoot: stateRoot(merged.method, merged.inputs.map(i => i.cid), merged.composite, inputWeights) }
}

/** The composite alone: mergeModules without hashing it into a state root (benchmarks time the two apart). */
export async function mergeComposite<D> (inputs: readonly MergeInput<D>[], method: MergeMethod, options: MergeOptions<D> = {}): Promise<MergedComposite> {
  const canonical = canonicalMethod(method, options.evaluator?.id)
  const ordered = canonicalOrder(inputs)
  assertCompatible(ordered)
  const base = { engineVersion: ENGINE_VERSION, method: canonical, inputs: ordered }
  if (ordered.length === 0) return { ...base, composite: { kind: 'empty' } }
  switch (canonical.name) {
    case 'linear':
    case 'task-arithmetic':
    case 'ties':
    case 'dare': {
      const { module, weights } = mergeDataFree(ordered, canonical)
      return { ...base, composite: { kind: 'adapter', module }, weights }
    }
    case 'medforge-fusion':
    case 'medforge-fusion-product': {
      const state = await fuse(ordered, canonical, requireEvaluator(options), options.resumeFrom)
      return { ...base, composite: { kind: 'adapter', module: state.module }, steps: state.steps }
    }
    case 'medforge-regmean': {
      const { module, weights } = regmean(ordered, canonical)
      return { ...base, composite: { kind: 'adapter', module }, weights }
    }
    case 'medforge-mixture': {
      const state = await mix(ordered, canonical, requireEvaluator(options))
      return { ...base, composite: { kind: 'mixture', weights: state.weights }, weights: state.weights, steps: state.steps }
    }
  }
}

function requireEvaluator<D> (options: MergeOptions<D>): CandidateEvaluator<D> {
  if (options.evaluator === undefined) throw new InvalidMergeOptionsError('this method needs a loss evaluator')
  return options.evaluator
}

export function compositeModule (result: MergeResult): LoraModule | undefined {
  return result.composite.kind === 'adapter' ? result.composite.module : undefined
}
