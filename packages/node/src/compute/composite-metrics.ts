// Per-task metrics of a fresh composite on the contributors' distilled sets: what every peer can
// compute from what it already has (no private data), shown on the dashboard after each merge.
// Indicative only — distilled sets are tiny and synthetic; clinical numbers come from `medforge eval`.
import { classificationMetrics } from '@medforge/clinical'
import { mixProbabilities } from '@medforge/merge-core'
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
      // A mixture: each module applied with this contributor's head, mixed as the merge mixes them.
      const predictions: Predictions[] = []
      for (const other of result.inputs) predictions.push(await evaluator.predict(other.module, contributor))
      const first = predictions[0]!
      p = { probabilities: mixProbabilities(result.composite.weights, predictions.map(q => q.probabilities), first.classes), labels: first.labels, classes: first.classes }
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
