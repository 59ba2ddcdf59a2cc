// Issue 13 experiment: product-space Fusion (prediction KL) with a per-task tolerance, on the
// bench's three sites (frozen probe heads, frozen-base distilled sets): does refusing to trade a
// task away keep the breast update the unconstrained search drops, and at what cost?
//   node scripts/experiments/tolerance.ts [SEED] [TOLERANCES, e.g. 0.02,0.05,0.1]
import { mergeModules } from '@medforge/merge-core'
import { CLINICAL_TASKS, classificationMetrics, compositeTaskPredictions, distill, loadBaseWeights, loadTf, siteShard, trainLora, vitEvaluator } from '@medforge/clinical'
import type { MergeInput, MergeMethod } from '@medforge/merge-core'
import type { VitContext } from '@medforge/clinical'
import { SITES } from '../bench/clinical-sites.ts'

const tf = await loadTf('wasm')
const base = loadBaseWeights()
const seedArg = process.argv[2] ?? '0'
const tolerances = (process.argv[3] ?? '0.02,0.05,0.1').split(',').map(Number)
const auc = (p: { probabilities: Float64Array, classes: number, labels: Int32Array } | undefined): string => p === undefined ? '–' : classificationMetrics(p.probabilities, p.classes, p.labels).auc.toFixed(3)
const inputs: MergeInput<VitContext>[] = []
for (const site of SITES) {
  const shard = siteShard(site.task, site.index, site.of, site.alpha === undefined ? {} : { alpha: site.alpha })
  const classes = CLINICAL_TASKS.get(site.task)!.labels.length
  const seed = seedArg === '0' ? site.name : `${site.name}|seed-${seedArg}`
  const r = await trainLora(tf, base, shard.train, shard.val, { classes, rank: 4, alpha: 8, targets: ['q_proj', 'v_proj'], epochs: 10, patience: 3, seed, head: 'probe' })
  const d = await distill(tf, base, shard.train, { task: site.task, classes, imagesPerClass: 10, iterations: 200, seed })
  inputs.push({ module: r.module, height: site.height, task: site.task, sampleCount: 1, context: { inputs: d.set.inputs.data, labels: d.set.labels }, label: site.name })
}
for (const tolerance of [undefined, ...tolerances]) {
  const method: MergeMethod = tolerance === undefined ? { name: 'medforge-fusion-product', objective: 'kl' } : { name: 'medforge-fusion-product', objective: 'kl', tolerance }
  const r = await mergeModules(inputs, method, { evaluator: vitEvaluator(base) })
  const steps = r.steps!.map(s => `[${s.coefficients.map(c => c.toFixed(2)).join(', ')}]${s.tasks === undefined ? '' : ` {${Object.entries(s.tasks).map(([t, v]) => `${t} ${v.toFixed(3)}`).join(', ')}}`}`).join(' ')
  console.log(`tolerance ${tolerance ?? 'none'}: pneumonia ${auc(compositeTaskPredictions(tf, base.weights, r, 'pneumonia'))} breast ${auc(compositeTaskPredictions(tf, base.weights, r, 'breast'))} steps ${steps}`)
}
