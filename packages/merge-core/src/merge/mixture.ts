// MedForge-Mixture: every module is kept; the prediction is Σ_j w_j · softmax(logits with module j).
// At step t, [a, b] is searched as in Fusion and the weights become [a·w_1, …, a·w_(t-1), b].
// Unlike the reference, only tasks seen so far count, and the cross-entropy is taken once of the
// mixed distribution (the reference applies softmax twice before its cross-entropy, and does not
// renormalise, so weights summing above one looked better).
import { detLog } from '../det-math.ts'
import { InvalidMergeOptionsError } from '../errors.ts'
import { nelderMead } from '../optimizer/nelder-mead.ts'
import type { CandidateEvaluator, Predictions } from './evaluator.ts'
import { penalty, taskMeanLoss } from './fusion.ts'
import type { FusionStep } from './fusion.ts'
import type { OrderedInput } from './inputs.ts'
import type { CanonicalMethod } from './methods.ts'

type MixtureMethod = Extract<CanonicalMethod, { name: 'medforge-mixture' }>

/** Mixed class scores below this are raised to it (negative weights can push them to or under zero). */
export const MIXTURE_PROBABILITY_FLOOR = 1e-12

/**
 * The mixture's prediction, the one rule every scorer of a mixture uses (the search, the daemon's
 * metrics, clinical evaluation). Per sample, each class score is q_c = max(Σ_j w_j·p_jc, floor)
 * and the prediction is q / Σ_c q_c: a proper distribution for any weights, so weights cannot buy
 * a lower loss by growing (raw sums of probabilities above one would). `probabilities[j]` is
 * module j's row-major [samples, classes] output.
 */
export function mixProbabilities (weights: readonly number[], probabilities: ReadonlyArray<ArrayLike<number>>, classes: number): Float64Array {
  const n = (probabilities[0]?.length ?? 0) / classes
  const out = new Float64Array(n * classes)
  for (let i = 0; i < n; i++) {
    let total = 0
    for (let c = 0; c < classes; c++) {
      let q = 0
      for (let j = 0; j < probabilities.length; j++) q += weights[j]! * probabilities[j]![i * classes + c]!
      if (!(q > MIXTURE_PROBABILITY_FLOOR)) q = MIXTURE_PROBABILITY_FLOOR
      out[i * classes + c] = q
      total += q
    }
    for (let c = 0; c < classes; c++) out[i * classes + c] = out[i * classes + c]! / total
  }
  return out
}

/** Cross-entropy of the mixture's prediction (mixProbabilities) against the labels. */
export function mixtureCrossEntropy (weights: readonly number[], predictions: readonly Predictions[]): number {
  const first = predictions[0]!
  const n = first.labels.length
  const k = first.classes
  const mixed = mixProbabilities(weights, predictions.map(p => p.probabilities), k)
  let sum = 0
  for (let i = 0; i < n; i++) sum -= detLog(mixed[i * k + first.labels[i]!]!)
  return n === 0 ? 0 : sum / n
}

export interface MixtureState {
  readonly weights: readonly number[]
  readonly contributors: readonly OrderedInput[]
  readonly steps: readonly FusionStep[]
}

export async function mix<D> (inputs: readonly OrderedInput<D>[], method: MixtureMethod, evaluator: CandidateEvaluator<D>): Promise<MixtureState> {
  if (evaluator.predict === undefined) throw new InvalidMergeOptionsError('medforge-mixture needs an evaluator with predict()')
  const cache = new Map<string, Predictions>()
  const predictionsOf = async (module: OrderedInput<D>, on: OrderedInput<D>): Promise<Predictions> => {
    const key = `${module.cid}|${on.cid}`
    let p = cache.get(key)
    if (p === undefined) {
      p = await evaluator.predict!(module.module, on)
      cache.set(key, p)
    }
    return p
  }
  let weights: number[] = []
  const steps: FusionStep[] = []
  for (let t = 0; t < inputs.length; t++) {
    const next = inputs[t]!
    if (t === 0) {
      weights = [1]
      steps.push({ cid: next.cid, coefficients: [0, 1], loss: NaN, evaluations: 0 })
      continue
    }
    const seen = inputs.slice(0, t + 1)
    const previous = weights
    const search = await nelderMead(async ([a, b]) => {
      const fa = Math.fround(a!)
      const fb = Math.fround(b!)
      const w = [...previous.map(x => Math.fround(fa * x)), fb]
      const data = await taskMeanLoss(async c => mixtureCrossEntropy(w, await Promise.all(seen.map(m => predictionsOf(m, c)))), seen)
      return data + penalty(method, fa, fb)
    }, { x0: method.init, lower: method.lower, upper: method.upper, budget: method.budget })
    const a = Math.fround(search.x[0]!)
    const b = Math.fround(search.x[1]!)
    weights = [...previous.map(x => Math.fround(a * x)), b]
    steps.push({ cid: next.cid, coefficients: [a, b], loss: search.loss, evaluations: search.evaluations.length })
  }
  return { weights, contributors: inputs, steps }
}
