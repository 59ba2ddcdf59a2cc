// Issue 13 experiment: RegMean merging of LoRA updates (the experiment behind medforge-regmean).
// Each module ships the second moments of its LoRA layers' inputs on its own training data
// (inputGrams); the composite is the least-squares fit to every contributor's layer outputs on its
// own inputs (see packages/merge-core/src/merge/regmean.ts). Compares off-diagonal shrink α and the
// weighting (each module one say; tasks equal, modules equal within; tasks equal, samples within)
// with the product-space sum and mean and the single modules, per seed; and per-task
// relative-error weights (each task's say divided by its update's output energy on its own inputs
// to a power p, so a task with a small update is not outvoted in absolute terms). Modules are
// cached in /tmp/mf-regmean/SEED.
//   node scripts/experiments/regmean.ts [SEEDS=0,1,2] [ALPHAS=0.5,0.9,1] [POWERS=0.25,0.5,1]
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { canonicalMethod, canonicalOrder, combineProduct, decodeModuleFile, encodeModuleFile, loraScaling, mergeModules, regmean as regmeanFit } from '@medforge/merge-core'
import { CLINICAL_TASKS, classificationMetrics, compositeTaskPredictions, inputGrams, loadBaseWeights, loadTf, predictOnSplit, siteShard, trainLora } from '@medforge/clinical'
import type { LoraModule, MergeInput, RegmeanBalance } from '@medforge/merge-core'
import { SITES } from '../bench/clinical-sites.ts'

const tf = await loadTf('wasm')
const base = loadBaseWeights()
const seeds = (process.argv[2] ?? '0,1,2').split(',')
const alphas = (process.argv[3] ?? '0.5,0.9,1').split(',').map(Number)
const powers = (process.argv[4] ?? '0.25,0.5,1').split(',').map(Number)

/** tr(ΔW·G̃·ΔWᵀ), ΔW = s·B·A, G̃ the input second moment normalised to trace n: the update's output energy on its own inputs. */
function outputEnergy (input: MergeInput, layer: string): number {
  const pair = input.module.layers.get(layer)!
  const [r, n] = pair.A.shape as [number, number]
  const rows = pair.B.shape[0]!
  const gram = input.inputGrams!.get(layer)!.data
  let trace = 0
  for (let i = 0; i < n; i++) trace += gram[i * n + i]!
  let e = 0
  for (let a = 0; a < r; a++) {
    for (let b = 0; b < r; b++) {
      let agb = 0 // (A·G·Aᵀ)[a, b]
      for (let x = 0; x < n; x++) { let t = 0; for (let y = 0; y < n; y++) t += gram[x * n + y]! * pair.A.data[b * n + y]!; agb += pair.A.data[a * n + x]! * t }
      let btb = 0 // (Bᵀ·B)[a, b]
      for (let o = 0; o < rows; o++) btb += pair.B.data[o * r + a]! * pair.B.data[o * r + b]!
      e += agb * btb
    }
  }
  return loraScaling(input.module.config) ** 2 * e * n / trace
}
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
  // Per layer, each task's weight divided by (its modules' weighted output energy)^p.
  const relative = (label: string, power: number) => {
    const method = canonicalMethod({ name: 'medforge-regmean', shrink: 0.9, balance: 'samples' })
    if (method.name !== 'medforge-regmean') throw new Error('unreachable')
    const ordered = canonicalOrder(mods)
    const r = regmeanFit(ordered, method, (layer, weights) => {
      const energy = new Map<string, number>()
      ordered.forEach((m, i) => energy.set(m.task!, (energy.get(m.task!) ?? 0) + weights[i]! * outputEnergy(m, layer)))
      return weights.map((w, i) => w * energy.get(ordered[i]!.task!)! ** -power)
    })
    record(label, { composite: { kind: 'adapter', module: r.module }, weights: r.weights, inputs: ordered.map(i => ({ module: i.module, task: i.task })) })
  }
  for (const p of powers) relative(`regmean α=0.9 samples, relative-error task weights p=${p}`, p)
  const [A, C, B] = mods as [MergeInput, MergeInput, MergeInput]
  const pneu = combineProduct(A.module, B.module, 0.5, 0.5)
  score('product task-mean sum', combineProduct(pneu, C.module, 1, 1))
  score('pneumonia only: product mean', pneu)
  score('pneumonia only: product sum', combineProduct(A.module, B.module, 1, 1))
  await regmean('pneumonia only: regmean α=0.5', [A, B], 0.5, 'module')
  if (!alphas.includes(0.9)) await regmean('regmean α=0.9 tasks equal, samples within a task', mods, 0.9, 'samples')
  for (const alpha of alphas) {
    await regmean(`regmean α=${alpha} tasks equal, samples within a task`, mods, alpha, 'samples')
    await regmean(`regmean α=${alpha} tasks equal, modules equal within`, mods, alpha, 'task')
    await regmean(`regmean α=${alpha} per-module`, mods, alpha, 'module')
  }
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
console.log('\nmeans over seeds')
for (const [label, rows] of table) console.log(`${label.padEnd(36)} ${rows[0]!.map((_, k) => f3(mean(rows.map(r => r[k]!)))).join('  ')}`)
