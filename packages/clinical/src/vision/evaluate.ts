// Clinical evaluation of a module (or a composite with a task head) on a task's official split.
import { loadSplit } from '../data/medmnist.ts'
import type { SplitName } from '../data/medmnist.ts'
import type { ImageSet } from '../data/image-set.ts'
import type { LoraModule } from '@medforge/merge-core'
import { Xoshiro128, loraScaling, mixProbabilities } from '@medforge/merge-core'
import { classificationMetrics } from './metrics.ts'
import type { ClassificationMetrics } from './metrics.ts'
import { headToTensors, moduleToTensors, predictTf } from './lora-train.ts'
import { toInputs } from './preprocess.ts'
import type { Tf } from './tf-backend.ts'
import { createTfVit } from './vit-tf.ts'
import type { VitWeights } from './vit-weights.ts'
import type { F32Tensor } from '@medforge/merge-core'
import { InvalidAdapterError } from '@medforge/merge-core'

const inputCache = new Map<string, { inputs: Float32Array, labels: Int32Array, count: number }>()

export function splitInputs (task: string, split: SplitName): { inputs: Float32Array, labels: Int32Array, count: number } {
  const key = `${task}/${split}`
  let hit = inputCache.get(key)
  if (hit === undefined) {
    const set = loadSplit(task, split)
    hit = { inputs: toInputs(set), labels: set.labels, count: set.count }
    inputCache.set(key, hit)
  }
  return hit
}

/** Class probabilities on a split: row-major [samples, classes], with the true labels. */
export interface SplitPredictions { readonly probabilities: Float64Array, readonly classes: number, readonly labels: Int32Array }

/** What to evaluate on: a split of a vendored demo task, or a site's own image set. */
export type EvalData = SplitName | ImageSet

/** Predictions of the base model with `adapter` (LoRA, may be undefined) and `head`, on a split. */
export function predictOnSplit (tf: Tf, weights: VitWeights, adapter: LoraModule | undefined, head: ReadonlyMap<string, F32Tensor>, task: string, split: EvalData = 'test'): SplitPredictions {
  const data = typeof split === 'string' ? splitInputs(task, split) : { inputs: toInputs(split), labels: split.labels, count: split.count }
  return predictOnInputs(tf, weights, adapter, head, data, task)
}

/** Metrics of the base model with `adapter` and `head` on a site's own image set. */
export function evaluateOnSet (tf: Tf, weights: VitWeights, adapter: LoraModule | undefined, head: ReadonlyMap<string, F32Tensor>, set: ImageSet): ClassificationMetrics {
  const p = predictOnInputs(tf, weights, adapter, head, { inputs: toInputs(set), labels: set.labels, count: set.count }, 'image set')
  return classificationMetrics(p.probabilities, p.classes, p.labels)
}

function predictOnInputs (tf: Tf, weights: VitWeights, adapter: LoraModule | undefined, head: ReadonlyMap<string, F32Tensor>, data: { inputs: Float32Array, labels: Int32Array, count: number }, what: string): SplitPredictions {
  const { inputs, labels, count } = data
  const vit = createTfVit(tf, weights)
  const headTensors = headToTensors(tf, head)
  if (headTensors === undefined) throw new InvalidAdapterError(what, 'no classifier head to evaluate with')
  const lora = adapter === undefined ? undefined : moduleToTensors(tf, adapter).lora
  try {
    const probs = predictTf(vit, inputs, count, headTensors, lora, adapter === undefined ? 1 : loraScaling(adapter.config))
    return { probabilities: Float64Array.from(probs), classes: headTensors.b.shape[0]!, labels }
  } finally {
    vit.dispose()
    headTensors.W.dispose(); headTensors.b.dispose()
    for (const p of lora?.values() ?? []) { p.A.dispose(); p.B.dispose() }
  }
}

/** Metrics of the base model with `adapter` (LoRA, may be undefined) and `head`, on a split. */
export function evaluateOnSplit (tf: Tf, weights: VitWeights, adapter: LoraModule | undefined, head: ReadonlyMap<string, F32Tensor>, task: string, split: SplitName = 'test'): ClassificationMetrics {
  const p = predictOnSplit(tf, weights, adapter, head, task, split)
  return classificationMetrics(p.probabilities, p.classes, p.labels)
}

/**
 * Predictions of a MedForge-Mixture composite on a split: every module applied in turn with the
 * task's head, mixed with the composite's weights (mixProbabilities, as in the merge).
 */
export function predictMixtureOnSplit (tf: Tf, weights: VitWeights, modules: readonly LoraModule[], mixWeights: readonly number[], head: ReadonlyMap<string, F32Tensor>, task: string, split: EvalData = 'test'): SplitPredictions {
  const each = modules.map(m => predictOnSplit(tf, weights, m, head, task, split))
  const first = each[0]!
  return { probabilities: mixProbabilities(mixWeights, each.map(p => p.probabilities), first.classes), classes: first.classes, labels: first.labels }
}

/**
 * A composite's predictions for one task. Each contributor of that task keeps its own head, so the
 * composite is run with each of those heads and their class probabilities are averaged into one
 * prediction (an ensemble over the task's heads), weighted as the merge weighed the contributors
 * when it says (`weights` of an adapter composite, renormalised over the task), equally otherwise.
 * A mixture composite mixes all modules' predictions with its weights under each head first.
 * Undefined when no contributor has the task.
 */
export function compositeTaskPredictions (tf: Tf, weights: VitWeights, result: { composite: { kind: string, module?: LoraModule, weights?: readonly number[] }, inputs: ReadonlyArray<{ module: LoraModule, task?: string | undefined }>, weights?: readonly number[] }, task: string, split: EvalData = 'test'): SplitPredictions | undefined {
  const members = result.inputs.flatMap((input, k) => input.task === task ? [{ heads: input.module.heads, weight: result.composite.kind === 'adapter' ? result.weights?.[k] ?? 1 : 1 }] : [])
  if (members.length === 0 || result.composite.kind === 'empty') return undefined
  const total = members.reduce((a, m) => a + m.weight, 0)
  const weighted = members.every(m => m.weight > 0)
  const share = (w: number): number => weighted ? w / total : 1 / members.length
  const ps = members.map(m => result.composite.kind === 'mixture'
    ? predictMixtureOnSplit(tf, weights, result.inputs.map(i => i.module), result.composite.weights!, m.heads, task, split)
    : predictOnSplit(tf, weights, result.composite.module!, m.heads, task, split))
  const first = ps[0]!
  const mean = new Float64Array(first.probabilities.length)
  ps.forEach((p, k) => { const w = share(members[k]!.weight); for (let i = 0; i < mean.length; i++) mean[i] = mean[i]! + w * p.probabilities[i]! })
  return { probabilities: mean, classes: first.classes, labels: first.labels }
}

/** A composite's test metrics for one task: compositeTaskPredictions, scored once. */
export function compositeTaskMetrics (tf: Tf, weights: VitWeights, result: Parameters<typeof compositeTaskPredictions>[2], task: string, split: EvalData = 'test'): { accuracy: number, auc: number, f1: number } | undefined {
  const p = compositeTaskPredictions(tf, weights, result, task, split)
  if (p === undefined) return undefined
  const m = classificationMetrics(p.probabilities, p.classes, p.labels)
  return { accuracy: m.accuracy, auc: m.auc, f1: m.f1 }
}

/**
 * A bootstrap 95% interval of a metric on a test split: `resamples` draws of the samples with
 * replacement (seeded), the 2.5th and 97.5th percentiles of the metric over them.
 */
export function bootstrapInterval (p: SplitPredictions, metric: (m: ClassificationMetrics) => number, seed: string, resamples = 500): [number, number] {
  const rng = Xoshiro128.fromString(`medforge-bootstrap/v1|${seed}`)
  const n = p.labels.length
  const k = p.classes
  const values: number[] = []
  const probs = new Float64Array(n * k)
  const labels = new Int32Array(n)
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) {
      const j = rng.nextU32() % n
      labels[i] = p.labels[j]!
      for (let c = 0; c < k; c++) probs[i * k + c] = p.probabilities[j * k + c]!
    }
    values.push(metric(classificationMetrics(probs, k, labels)))
  }
  values.sort((a, b) => a - b)
  return [values[Math.floor(0.025 * resamples)]!, values[Math.min(resamples - 1, Math.floor(0.975 * resamples))]!]
}
