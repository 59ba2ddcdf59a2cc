// Issue 13 experiment: what limits a single site's module (lever 5)? Trains one site's module with
// several recipes on the frozen base — LoRA rank, targets, epochs, learning rate — and prints each
// recipe's test AUC (official split), mean over seeds.
//   node scripts/experiments/capacity.ts [SITES=Clinic C,Hospital A] [SEEDS=0,1]
import { CLINICAL_TASKS, classificationMetrics, loadBaseWeights, loadTf, predictOnSplit, siteShard, trainLora } from '@medforge/clinical'
import { SITES } from '../bench/clinical-sites.ts'

const tf = await loadTf('wasm')
const base = loadBaseWeights()
const names = (process.argv[2] ?? 'Clinic C,Hospital A').split(',')
const seeds = (process.argv[3] ?? '0,1').split(',')
const recipes = [
  { label: 'r4 q,v 10 epochs (the default)', rank: 4, alpha: 8, targets: ['q_proj', 'v_proj'], epochs: 10, lr: 2e-3 },
  { label: 'r16 q,v', rank: 16, alpha: 16, targets: ['q_proj', 'v_proj'], epochs: 10, lr: 2e-3 },
  { label: 'r16 q,v + visual_projection (the reference)', rank: 16, alpha: 16, targets: ['q_proj', 'v_proj', 'visual_projection'], epochs: 10, lr: 2e-3 },
  { label: 'r4 q,v 25 epochs, patience 5', rank: 4, alpha: 8, targets: ['q_proj', 'v_proj'], epochs: 25, lr: 2e-3, patience: 5 },
  { label: 'r4 q,v lr 5e-3', rank: 4, alpha: 8, targets: ['q_proj', 'v_proj'], epochs: 10, lr: 5e-3 }
]
for (const name of names) {
  const site = SITES.find(s => s.name === name)!
  const shard = siteShard(site.task, site.index, site.of, site.alpha === undefined ? {} : { alpha: site.alpha })
  const classes = CLINICAL_TASKS.get(site.task)!.labels.length
  for (const r of recipes) {
    const aucs: number[] = []
    const t0 = performance.now()
    for (const seed of seeds) {
      const result = await trainLora(tf, base, shard.train, shard.val, { classes, rank: r.rank, alpha: r.alpha, targets: r.targets, epochs: r.epochs, patience: r.patience ?? 3, learningRate: r.lr, seed: seed === '0' ? site.name : `${site.name}|seed-${seed}` })
      const p = predictOnSplit(tf, base.weights, result.module, result.module.heads, site.task)
      aucs.push(classificationMetrics(p.probabilities, p.classes, p.labels).auc)
    }
    const mean = aucs.reduce((a, b) => a + b, 0) / aucs.length
    console.log(`${site.name} (${site.task}, ${shard.train.count} images) | ${r.label} | AUC ${mean.toFixed(3)} (${aucs.map(a => a.toFixed(3)).join(', ')}) | ${((performance.now() - t0) / 1000 / seeds.length).toFixed(0)} s per module`)
  }
}
