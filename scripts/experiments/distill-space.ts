// Issue 13 experiment: does distilling in the adapted feature space (base + the site's own LoRA,
// the reference's --lora) let the Fusion searches see what each module does? Trains the bench's
// three sites with frozen probe heads, distils each twice (frozen base, adapted), and merges with
// product-space Fusion (KL and loss objectives) and factor-space Fusion on each kind of set.
//   node scripts/experiments/distill-space.ts [SEED]
import { mergeModules } from '@medforge/merge-core'
import { CLINICAL_TASKS, compositeTaskPredictions, classificationMetrics, distill, loadBaseWeights, loadTf, predictOnSplit, siteShard, trainLora, vitEvaluator } from '@medforge/clinical'
import type { LoraModule, MergeInput } from '@medforge/merge-core'
import type { VitContext } from '@medforge/clinical'
import { SITES } from '../bench/clinical-sites.ts'
const tf = await loadTf('wasm')
const base = loadBaseWeights()
const f3 = (x: number) => x.toFixed(3)
const auc = (p: { probabilities: Float64Array, classes: number, labels: Int32Array } | undefined) => p === undefined ? NaN : classificationMetrics(p.probabilities, p.classes, p.labels).auc
const seedArg = process.argv[2] ?? '0'
const mods: Array<{ site: typeof SITES[number], module: LoraModule, plain: VitContext, adapted: VitContext }> = []
for (const site of SITES) {
  const shard = siteShard(site.task, site.index, site.of, site.alpha === undefined ? {} : { alpha: site.alpha })
  const classes = CLINICAL_TASKS.get(site.task)!.labels.length
  const seed = seedArg === '0' ? site.name : `${site.name}|seed-${seedArg}`
  const r = await trainLora(tf, base, shard.train, shard.val, { classes, rank: 4, alpha: 8, targets: ['q_proj', 'v_proj'], epochs: 10, patience: 3, seed, head: 'probe' })
  const d0 = await distill(tf, base, shard.train, { task: site.task, classes, imagesPerClass: 10, iterations: 200, seed })
  const d1 = await distill(tf, base, shard.train, { task: site.task, classes, imagesPerClass: 10, iterations: 200, seed, adapter: r.module })
  mods.push({ site, module: r.module, plain: { inputs: d0.set.inputs.data, labels: d0.set.labels }, adapted: { inputs: d1.set.inputs.data, labels: d1.set.labels } })
  console.log(`${site.name}: single ${f3(auc(predictOnSplit(tf, base.weights, r.module, r.module.heads, site.task)))}`)
}
for (const which of ['plain', 'adapted'] as const) {
  const mi: MergeInput<VitContext>[] = mods.map(m => ({ module: m.module, height: m.site.height, task: m.site.task, sampleCount: 1, context: m[which], label: m.site.name }))
  for (const method of [{ name: 'medforge-fusion-product', objective: 'kl' }, { name: 'medforge-fusion' }, { name: 'medforge-fusion-product', objective: 'loss' }] as const) {
    const r = await mergeModules(mi, method as never, { evaluator: vitEvaluator(base) })
    console.log(`${which} ${method.name}${'objective' in method ? '/' + method.objective : ''}: pneumonia ${f3(auc(compositeTaskPredictions(tf, base.weights, r, 'pneumonia')))} breast ${f3(auc(compositeTaskPredictions(tf, base.weights, r, 'breast')))} steps ${JSON.stringify(r.steps?.map(s => s.coefficients.map(c => +c.toFixed(2))))}`)
  }
}
