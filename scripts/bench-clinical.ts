// npm run bench:clinical — the clinical results table. Trains the testnet's three sites (two
// pneumonia hospitals with label-skewed shards, one breast-ultrasound clinic) on the frozen,
// fractal-pretrained base model, distils their sets, merges with every method and evaluates every
// composite on the official test splits; also the composite after each asynchronous arrival, and
// what pretraining buys over a randomly initialised frozen backbone.
//   node scripts/bench-clinical.ts [--backend wasm|cpu] [--no-write] [--epochs N]
import { readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { canonicalMethod, canonicalOrder, fusionStep, mergeModules } from '@medforge/merge-core'
import { CLINICAL_TASKS, VIT_TINY, compositeTaskMetrics, distill, evaluateOnSplit, initVitWeights, loadBaseWeights, loadTf, siteShard, trainLora, vitEvaluator } from '@medforge/clinical'
import type { LoraModule, MergeInput, MergeMethod } from '@medforge/merge-core'
import type { BackendName, ClassificationMetrics, VitContext, VitWeights } from '@medforge/clinical'

const { values } = parseArgs({ options: { backend: { type: 'string' }, 'no-write': { type: 'boolean' }, epochs: { type: 'string' } } })
const backend = (values.backend ?? 'wasm') as BackendName
const epochs = Number(values.epochs ?? 10)
const tf = await loadTf(backend)
const base = loadBaseWeights()
const SITES = [
  { name: 'Hospital A', task: 'pneumonia', index: 0, of: 2, alpha: 0.5, height: 1 },
  { name: 'Clinic C', task: 'breast', index: 0, of: 1, alpha: undefined, height: 2 },
  { name: 'Hospital B', task: 'pneumonia', index: 1, of: 2, alpha: 0.5, height: 3 }
] as const
const lines: string[] = []
const say = (s = ''): void => { console.log(s); lines.push(s) }
const f3 = (x: number): string => x.toFixed(3)

interface Trained { site: typeof SITES[number], module: LoraModule, context: VitContext, trainSeconds: number, distillSeconds: number, samples: number, test: ClassificationMetrics, epochs: number }

async function trainSite (site: typeof SITES[number], backbone: { weights: VitWeights, cid: string }, withDistill: boolean): Promise<Trained> {
  const shard = siteShard(site.task, site.index, site.of, site.alpha === undefined ? {} : { alpha: site.alpha })
  const classes = CLINICAL_TASKS.get(site.task)!.labels.length
  const t0 = performance.now()
  const result = await trainLora(tf, backbone, shard.train, shard.val, { classes, rank: 4, alpha: 8, targets: ['q_proj', 'v_proj'], epochs, patience: 3, seed: site.name })
  const trainSeconds = (performance.now() - t0) / 1000
  let context: VitContext = { inputs: new Float32Array(), labels: new Int32Array() }
  let distillSeconds = 0
  if (withDistill) {
    const t1 = performance.now()
    const d = await distill(tf, backbone, shard.train, { task: site.task, classes, imagesPerClass: 10, iterations: 200, seed: site.name })
    distillSeconds = (performance.now() - t1) / 1000
    context = { inputs: d.set.inputs.data, labels: d.set.labels }
  }
  const test = evaluateOnSplit(tf, backbone.weights, result.module, result.module.heads, site.task)
  return { site, module: result.module, context, trainSeconds, distillSeconds, samples: result.samples, test, epochs: result.history.length }
}

const runStart = performance.now()
const trained: Trained[] = []
for (const site of SITES) {
  const t = await trainSite(site, base, true)
  console.log(`${site.name}: ${t.samples} images, ${t.epochs} epochs, ${t.trainSeconds.toFixed(0)} s training, ${t.distillSeconds.toFixed(0)} s distilling; test ${f3(t.test.accuracy)} / ${f3(t.test.auc)}`)
  trained.push(t)
}
const inputs: MergeInput<VitContext>[] = trained.map(t => ({ module: t.module, height: t.site.height, task: t.site.task, sampleCount: t.samples, context: t.context, label: t.site.name }))
const evaluator = vitEvaluator(base)
/** The composite's metrics cell for a task (mean over that task's contributors' heads), or dashes. */
function cell (result: Parameters<typeof compositeTaskMetrics>[2], task: string): string {
  const m = compositeTaskMetrics(tf, base.weights, result, task)
  return m === undefined ? '– | –' : `${f3(m.accuracy)} | ${f3(m.auc)}`
}

const methods: Array<{ label: string, method: MergeMethod }> = [
  { label: 'uniform average', method: { name: 'linear', weighting: 'uniform' } },
  { label: 'TIES (density 0.5)', method: { name: 'ties', density: 0.5, weighting: 'uniform' } },
  { label: 'DARE (density 0.5)', method: { name: 'dare', density: 0.5, weighting: 'uniform' } },
  { label: 'MedForge-Fusion', method: { name: 'medforge-fusion' } },
  { label: 'MedForge-Mixture', method: { name: 'medforge-mixture' } }
]
const tasks = ['pneumonia', 'breast']
const rows: string[] = []
for (const { site, test } of trained) rows.push(`| ${site.name} module alone (${site.task}) | ${tasks.map(t => t === site.task ? `${f3(test.accuracy)} | ${f3(test.auc)}` : '– | –').join(' | ')} | – |`)
for (const { label, method } of methods) {
  const t0 = performance.now()
  const result = await mergeModules(inputs, method, { evaluator })
  const seconds = (performance.now() - t0) / 1000
  const cells = tasks.map(task => cell(result, task))
  rows.push(`| composite: ${label} | ${cells.join(' | ')} | ${seconds.toFixed(1)} |`)
  console.log(`${label}: ${cells.join('  ')}  (${seconds.toFixed(1)} s)`)
}
for (const task of tasks) {
  const b = CLINICAL_TASKS.get(task)!.baseline
  if (task === 'pneumonia') rows.push(`| published ResNet-18 (28), trained centrally on all data | ${f3(b.acc)} | ${f3(b.auc)} | ${f3(CLINICAL_TASKS.get('breast')!.baseline.acc)} | ${f3(CLINICAL_TASKS.get('breast')!.baseline.auc)} | – |`)
}

// The asynchronous story: the Fusion composite after each arrival, step timings included.
const fusion = canonicalMethod({ name: 'medforge-fusion' }, evaluator.id)
if (fusion.name !== 'medforge-fusion') throw new Error('unreachable')
const ordered = canonicalOrder(inputs)
const asyncRows: string[] = []
let state
for (const [k, input] of ordered.entries()) {
  const t0 = performance.now()
  state = await fusionStep(state, input, fusion, evaluator)
  const stepSeconds = (performance.now() - t0) / 1000
  const folded = { composite: { kind: 'adapter', module: state.module }, inputs: ordered.slice(0, k + 1) }
  const cells = tasks.map(task => cell(folded, task))
  const [a, b] = state.steps.at(-1)!.coefficients
  asyncRows.push(`| ${k + 1}. ${(input.label ?? '').padEnd(10)} (${input.task}) | ${cells.join(' | ')} | [${a.toFixed(3)}, ${b.toFixed(3)}] | ${stepSeconds.toFixed(1)} |`)
}

// What pretraining buys: the same sites trained on a randomly initialised frozen backbone.
const random = { weights: initVitWeights(VIT_TINY, 'random-backbone'), cid: 'random-init' }
const pretrainRows: string[] = []
for (const site of [SITES[0], SITES[1]]) {
  const r = await trainSite(site, random, false)
  const p = trained.find(t => t.site === site)!
  pretrainRows.push(`| ${site.name} (${site.task}) | ${f3(r.test.accuracy)} | ${f3(r.test.auc)} | ${f3(p.test.accuracy)} | ${f3(p.test.auc)} |`)
}

const machine = `node ${process.version}, ${cpus().length} x ${cpus()[0]?.model.trim() ?? 'cpu'}, backend ${tf.getBackend()}`
say(`### bench:clinical — ${new Date().toISOString().slice(0, 10)}, ${machine}`)
say()
say(`Base model ${base.cid} (medforge-vit-tiny/v1, FractalDB-pretrained, frozen); LoRA r=4, alpha 8 on q_proj and v_proj; up to ${epochs} epochs with early stopping on each site's validation shard; 10 distilled images per class. Test = official MedMNIST v2 test splits (pneumonia 624 images, breast 156).`)
say()
say('Sites (shards of the official train split; label skew by Dirichlet(0.5) between the two pneumonia hospitals):')
say()
say('| site | task | training images | epochs | training s | distillation s |')
say('|---|---|---|---|---|---|')
for (const t of trained) say(`| ${t.site.name} | ${t.site.task} | ${t.samples} | ${t.epochs} | ${t.trainSeconds.toFixed(0)} | ${t.distillSeconds.toFixed(0)} |`)
say()
say('Test ACC / AUC per task (a composite is scored with each of that task\'s contributors\' heads, averaged; merge s = the whole merge of 3 modules):')
say()
say('| model | pneumonia ACC | pneumonia AUC | breast ACC | breast AUC | merge s |')
say('|---|---|---|---|---|---|')
for (const r of rows) say(r)
say()
say('Asynchronous arrival (MedForge-Fusion, canonical order), the composite after each module, on the tasks seen so far; [a, b] = coefficients found; step s = one Fusion step (40 loss evaluations on the distilled sets, deterministic forward):')
say()
say('| arrival | pneumonia ACC | pneumonia AUC | breast ACC | breast AUC | [a, b] | step s |')
say('|---|---|---|---|---|---|---|')
for (const r of asyncRows) say(r)
say()
say('What pretraining buys (same shards, same recipe, test ACC / AUC of the single-site module):')
say()
say('| site | random frozen backbone ACC | AUC | FractalDB-pretrained ACC | AUC |')
say('|---|---|---|---|---|')
for (const r of pretrainRows) say(r)
say()
say(`Whole run: ${((performance.now() - runStart) / 1000).toFixed(0)} s.`)

if (values['no-write'] !== true) {
  const path = join(import.meta.dirname, '..', 'BENCHMARKS.md')
  const text = readFileSync(path, 'utf8')
  const START = '<!-- bench:clinical:start -->'
  const END = '<!-- bench:clinical:end -->'
  const block = `${START}\n${lines.join('\n')}\n${END}`
  const next = text.includes(START) ? text.replace(new RegExp(`${START}[\\s\\S]*${END}`), block) : `${text.trimEnd()}\n\n## Clinical results (\`npm run bench:clinical\`)\n\n${block}\n`
  writeFileSync(path, next)
  console.log(`updated ${path}`)
}
