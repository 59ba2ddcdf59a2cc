// Issue 13 experiment: RegMean merging of LoRA updates (the experiment behind medforge-regmean).
// Each module ships the second moments of its LoRA layers' inputs on its own training data
// (inputGrams); the composite is the least-squares fit to every contributor's layer outputs on its
// own inputs (see packages/merge-core/src/merge/regmean.ts). Compares off-diagonal shrink α and the
// weighting (each module one say; tasks equal, modules equal within; tasks equal, samples within)
// with the product-space sum and mean and the single modules, per seed. Modules are cached in
// /tmp/mf-regmean/SEED.
//   node scripts/experiments/regmean.ts [SEEDS=0,1,2] [ALPHAS=0.5,0.9,1]
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { combineProduct, decodeModuleFile, encodeModuleFile, mergeModules } from '@medforge/merge-core'
import { CLINICAL_TASKS, classificationMetrics, compositeTaskPredictions, inputGrams, loadBaseWeights, loadTf, predictOnSplit, siteShard, trainLora } from '@medforge/clinical'
import type { LoraModule, MergeInput, RegmeanBalance } from '@medforge/merge-core'
import { SITES } from '../bench/clinical-sites.ts'

const tf = await loadTf('wasm')
const base = loadBaseWeights()
const seeds = (process.argv[2] ?? '0,1,2').split(',')
const alphas = (process.argv[3] ?? '0.5,0.9,1').split(',').map(Number)
const f3 = (x: number) => x.toFixed(3)
const auc = (p: { probabilities: Float64Array, classes: number, labels: Int32Array } | undefined) => p === undefined ? NaN : classificationMetrics(p.probabilities, p.classes, p.labels).auc

const table = new Map<string, number[][]>()
const note = (label: string, values: number[]) => { const t = table.get(label) ?? []; t.push(values); table.set(label, t) }
for (const seed of seeds) {
  const dir = `/tmp/mf-regmean/${seed}`
  mkdirSync(dir, { recursive: true })
  const mods: MergeInput[] = []
  for (const site of SITES) {
    const shard = siteShard(site.task, site.index, site.of, site.alpha === undefined ? {} : { alpha: site.alpha })
    const file = `${dir}/${site.name.replace(/ /g, '-')}.safetensors`
    let module: LoraModule
    if (existsSync(file)) module = decodeModuleFile(readFileSync(file), file)
    else {
      const classes = CLINICAL_TASKS.get(site.task)!.labels.length
      const r = await trainLora(tf, base, shard.train, shard.val, { classes, rank: 4, alpha: 8, targets: ['q_proj', 'v_proj'], epochs: 10, patience: 3, seed: seed === '0' ? site.name : `${site.name}|seed-${seed}` })
      module = r.module
      writeFileSync(file, encodeModuleFile(module))
    }
    mods.push({ module, height: site.height, task: site.task, sampleCount: shard.train.count, label: site.name, inputGrams: inputGrams(tf, base.weights, module, shard.train) })
    note(`single ${site.name}`, [auc(predictOnSplit(tf, base.weights, module, module.heads, site.task))])
  }
  const inputs = mods.map(m => ({ module: m.module, task: m.task }))
  const record = (label: string, r: Parameters<typeof compositeTaskPredictions>[2]) => {
    const v = [auc(compositeTaskPredictions(tf, base.weights, r, 'pneumonia')), auc(compositeTaskPredictions(tf, base.weights, r, 'breast'))]
    note(label, v)
    console.log(`seed ${seed} ${label}: pneumonia ${f3(v[0]!)} breast ${f3(v[1]!)}`)
  }
  const score = (label: string, module: LoraModule) => { record(label, { composite: { kind: 'adapter', module }, inputs }) }
  // The task's heads are weighed as the merge weighed their modules (compositeTaskPredictions).
  const regmean = async (label: string, xs: MergeInput[], shrink: number, balance: RegmeanBalance) => {
    const r = await mergeModules(xs, { name: 'medforge-regmean', shrink, balance })
    record(label, { ...r, inputs: r.inputs.map(i => ({ module: i.module, task: i.task })) })
  }
  const [A, C, B] = mods as [MergeInput, MergeInput, MergeInput]
  const pneu = combineProduct(A.module, B.module, 0.5, 0.5)
  score('product task-mean sum', combineProduct(pneu, C.module, 1, 1))
  score('pneumonia only: product mean', pneu)
  score('pneumonia only: product sum', combineProduct(A.module, B.module, 1, 1))
  await regmean('pneumonia only: regmean α=0.5', [A, B], 0.5, 'module')
  await regmean('regmean α=0.9 tasks equal, samples within a task', mods, 0.9, 'samples')
  for (const alpha of alphas) {
    await regmean(`regmean α=${alpha} tasks equal, modules equal within`, mods, alpha, 'task')
    await regmean(`regmean α=${alpha} per-module`, mods, alpha, 'module')
  }
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
console.log('\nmeans over seeds')
for (const [label, rows] of table) console.log(`${label.padEnd(36)} ${rows[0]!.map((_, k) => f3(mean(rows.map(r => r[k]!)))).join('  ')}`)
