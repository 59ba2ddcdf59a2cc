// Per-task metrics of a fresh composite on the contributors' distilled sets: what every peer can
// compute from what it already has (no private data), shown on the dashboard after each merge.
// Indicative only — distilled sets are tiny and synthetic; clinical numbers come from `medforge eval`.
import { classificationMetrics } from '@medforge/clinical'
import type { CandidateEvaluator, MergeResult, Predictions } from '@medforge/merge-core'

export interface TaskMetrics { readonly accuracy: number, readonly auc: number, readonly samples: number }

export async function distilledSetMetrics (result: MergeResult, evaluator: CandidateEvaluator<unknown>): Promise<Record<string, TaskMetrics>> {
  if (evaluator.predict === undefined || result.composite.kind === 'empty') return {}
  const byTask = new Map<string, { probs: number[], labels: number[], classes: number }>()
  for (const contributor of result.inputs) {
    if (contributor.task === undefined || contributor.context === undefined) continue
    let p: Predictions
    if (result.composite.kind === 'adapter') {
      p = await evaluator.predict(result.composite.module, contributor)
    } else {
      // A mixture: each module applied with this contributor's head, mixed with the composite's weights.
      const weights = result.composite.weights
      let mixed: Float64Array | undefined
      let labels: Int32Array = new Int32Array()
      let classes = 0
      for (const [j, other] of result.inputs.entries()) {
        const q = await evaluator.predict(other.module, contributor)
        mixed ??= new Float64Array(q.probabilities.length)
        for (let i = 0; i < q.probabilities.length; i++) mixed[i] = mixed[i]! + weights[j]! * q.probabilities[i]!
        labels = q.labels
        classes = q.classes
      }
      p = { probabilities: mixed!, labels, classes }
    }
    const g = byTask.get(contributor.task) ?? { probs: [], labels: [], classes: p.classes }
    g.probs.push(...p.probabilities)
    g.labels.push(...p.labels)
    byTask.set(contributor.task, g)
  }
  const out: Record<string, TaskMetrics> = {}
  for (const [task, g] of [...byTask].sort((a, b) => a[0] < b[0] ? -1 : 1)) {
    const m = classificationMetrics(g.probs, g.classes, Int32Array.from(g.labels))
    out[task] = { accuracy: m.accuracy, auc: m.auc, samples: g.labels.length }
  }
  return out
}
