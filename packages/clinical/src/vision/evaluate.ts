// Clinical evaluation of a module (or a composite with a task head) on a task's official split.
import { loadSplit } from '../data/medmnist.ts'
import type { SplitName } from '../data/medmnist.ts'
import type { LoraModule } from '@medforge/merge-core'
import { loraScaling, mixProbabilities } from '@medforge/merge-core'
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

/** Metrics of the base model with `adapter` (LoRA, may be undefined) and `head`, on a split. */
export function evaluateOnSplit (tf: Tf, weights: VitWeights, adapter: LoraModule | undefined, head: ReadonlyMap<string, F32Tensor>, task: string, split: SplitName = 'test'): ClassificationMetrics {
  const { inputs, labels, count } = splitInputs(task, split)
  const vit = createTfVit(tf, weights)
  const headTensors = headToTensors(tf, head)
  if (headTensors === undefined) throw new InvalidAdapterError(task, 'no classifier head to evaluate with')
  const lora = adapter === undefined ? undefined : moduleToTensors(tf, adapter).lora
  try {
    const probs = predictTf(vit, inputs, count, headTensors, lora, adapter === undefined ? 1 : loraScaling(adapter.config))
    return classificationMetrics(probs, headTensors.b.shape[0]!, labels)
  } finally {
    vit.dispose()
    headTensors.W.dispose(); headTensors.b.dispose()
    for (const p of lora?.values() ?? []) { p.A.dispose(); p.B.dispose() }
  }
}

/**
 * Metrics of a MedForge-Mixture composite on a split: every module applied in turn with the task's
 * head, predictions mixed with the composite's weights (floored and renormalised, as in the merge).
 */
export function evaluateMixtureOnSplit (tf: Tf, weights: VitWeights, modules: readonly LoraModule[], mixWeights: readonly number[], head: ReadonlyMap<string, F32Tensor>, task: string, split: SplitName = 'test'): ClassificationMetrics {
  const { inputs, labels, count } = splitInputs(task, split)
  const vit = createTfVit(tf, weights)
  const headTensors = headToTensors(tf, head)
  if (headTensors === undefined) throw new InvalidAdapterError(task, 'no classifier head to evaluate with')
  const classes = headTensors.b.shape[0]!
  try {
    const predictions = modules.map(m => {
      const { lora } = moduleToTensors(tf, m)
      const p = predictTf(vit, inputs, count, headTensors, lora, loraScaling(m.config))
      for (const t of lora.values()) { t.A.dispose(); t.B.dispose() }
      return p
    })
    return classificationMetrics(mixProbabilities(mixWeights, predictions, classes), classes, labels)
  } finally {
    vit.dispose(); headTensors.W.dispose(); headTensors.b.dispose()
  }
}

/**
 * A composite's test metrics for one task. An adapter composite is scored with the head of each
 * contributor of that task and the metrics averaged (every site keeps its own head); a mixture
 * composite mixes all modules' predictions with its weights under each such head.
 */
export function compositeTaskMetrics (tf: Tf, weights: VitWeights, result: { composite: { kind: string, module?: LoraModule, weights?: readonly number[] }, inputs: ReadonlyArray<{ module: LoraModule, task?: string | undefined }> }, task: string, split: SplitName = 'test'): { accuracy: number, auc: number, f1: number } | undefined {
  const heads = result.inputs.filter(i => i.task === task).map(i => i.module.heads)
  if (heads.length === 0 || result.composite.kind === 'empty') return undefined
  const ms = heads.map(h => result.composite.kind === 'mixture'
    ? evaluateMixtureOnSplit(tf, weights, result.inputs.map(i => i.module), result.composite.weights!, h, task, split)
    : evaluateOnSplit(tf, weights, result.composite.module!, h, task, split))
  const mean = (f: (m: ClassificationMetrics) => number): number => ms.reduce((a, m) => a + f(m), 0) / ms.length
  return { accuracy: mean(m => m.accuracy), auc: mean(m => m.auc), f1: mean(m => m.f1) }
}
