// Issue 13 experiment: what the task head's recipe does to single modules and composites. For each
// variant (head joint|probe, LoRA targets qv|qvp), trains the bench's three sites (first seed by
// default), and prints each single module's test AUC, base + its head alone, the product-space sum
// and mean of the updates, and product-space Fusion (prediction KL).
//   node scripts/experiments/head-anchors.ts [joint:qv,probe:qv,probe:qvp,joint:qvp] [SEED]
import { combineProduct, mergeModules } from '@medforge/merge-core'
import { CLINICAL_TASKS, compositeTaskPredictions, classificationMetrics, distill, loadBaseWeights, loadTf, predictOnSplit, siteShard, trainLora, vitEvaluator } from '@medforge/clinical'
import type { LoraModule, MergeInput } from '@medforge/merge-core'
import type { VitContext } from '@medforge/clinical'
import { SITES } from '../bench/clinical-sites.ts'

const tf = await loadTf('wasm')
const base = loadBaseWeights()
const variants = (process.argv[2] ?? 'joint:qv,probe:qv,probe:qvp,joint:qvp').split(',')
const seed = process.argv[3] ?? '0'
const f3 = (x: number) => x.toFixed(3)
const auc = (p: { probabilities: Float64Array, classes: number, labels: Int32Array } | undefined) => p === undefined ? NaN : classificationMetrics(p.probabilities, p.classes, p.labels).auc
for (const v of variants) {
  const [head, t] = v.split(':') as ['joint' | 'probe', string]
  const targets = t === 'qvp' ? ['q_proj', 'v_proj', 'visual_projection'] : ['q_proj', 'v_proj']
  const mods: Array<{ site: typeof SITES[number], module: LoraModule, context: VitContext }> = []
  const t0 = performance.now()
  for (const site of SITES) {
    const shard = siteShard(site.task, site.index, site.of, site.alpha === undefined ? {} : { alpha: site.alpha })
    const classes = CLINICAL_TASKS.get(site.task)!.labels.length
    const r = await trainLora(tf, base, shard.train, shard.val, { classes, rank: 4, alpha: 8, targets, epochs: 10, patience: 3, seed: seed === '0' ? site.name : `${site.name}|seed-${seed}`, head })
    const d = await distill(tf, base, shard.train, { task: site.task, classes, imagesPerClass: 10, iterations: 200, seed: site.name })
    mods.push({ site, module: r.module, context: { inputs: d.set.inputs.data, labels: d.set.labels } })
    const own = auc(predictOnSplit(tf, base.weights, r.module, r.module.heads, site.task))
    const headOnly = auc(predictOnSplit(tf, base.weights, undefined, r.module.heads, site.task))
    console.log(`${v} ${site.name}: single ${f3(own)}  base+head ${f3(headOnly)}  epochs ${r.history.length}`)
  }
  const [A, C, B] = mods as [typeof mods[0], typeof mods[0], typeof mods[0]]
  const pneu = combineProduct(A.module, B.module, 0.5, 0.5)
  const sum = combineProduct(pneu, C.module, 1, 1)
  const inputs = mods.map(m => ({ module: m.module, task: m.site.task }))
  const r1 = { composite: { kind: 'adapter', module: sum }, inputs }
  console.log(`${v} product task-mean sum: pneumonia ${f3(auc(compositeTaskPredictions(tf, base.weights, r1, 'pneumonia')))} breast ${f3(auc(compositeTaskPredictions(tf, base.weights, r1, 'breast')))}`)
  const half = combineProduct(pneu, C.module, 0.5, 0.5)
  const r2 = { composite: { kind: 'adapter', module: half }, inputs }
  console.log(`${v} product mean: pneumonia ${f3(auc(compositeTaskPredictions(tf, base.weights, r2, 'pneumonia')))} breast ${f3(auc(compositeTaskPredictions(tf, base.weights, r2, 'breast')))}`)
  const mi: MergeInput<VitContext>[] = mods.map(m => ({ module: m.module, height: m.site.height, task: m.site.task, sampleCount: 1, context: m.context, label: m.site.name }))
  const fp = await mergeModules(mi, { name: 'medforge-fusion-product', objective: 'kl' }, { evaluator: vitEvaluator(base) })
  console.log(`${v} fusion-product kl: pneumonia ${f3(auc(compositeTaskPredictions(tf, base.weights, fp, 'pneumonia')))} breast ${f3(auc(compositeTaskPredictions(tf, base.weights, fp, 'breast')))}`)
  console.log(`${v} took ${((performance.now() - t0) / 1000).toFixed(0)} s`)
}
