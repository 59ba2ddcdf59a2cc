// npm run bench:clinical — the clinical results table. Trains the testnet's three sites (two
// pneumonia hospitals with label-skewed shards, one breast-ultrasound clinic) on the frozen,
// fractal-pretrained base model, distils their sets, merges with every method and evaluates every
// composite on the official test splits; then a four-site configuration (breast shared by two
// clinics) with the baseline, the reference rule and the network's default (MedForge-RegMean).
// Also the composite after each asynchronous arrival, the default's verdict against issue 13's
// targets, what pretraining buys over a randomly initialised frozen backbone, and what the frozen
// probe head buys over a head trained with the adapter (the ablation of issue 13's class anchors).
// Every cell is a mean ± sd over seeds (the LoRA initialisation and the distillation noise; the
// sites' data is fixed), with a bootstrap 95% interval of the AUC on the first seed's predictions.
//   node scripts/bench-clinical.ts [--seeds 3] [--backend wasm|cpu] [--no-write] [--json] [--epochs N]
import { readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { canonicalMethod, canonicalOrder, fusionStep, mergeModules } from '@medforge/merge-core'
import type { FusionState } from '@medforge/merge-core'
import { CLINICAL_TASKS, VIT_TINY, compositeTaskPredictions, distill, evaluateOnSplit, initVitWeights, inputGrams, loadBaseWeights, loadTf, predictOnSplit, siteShard, trainLora, vitEvaluator } from '@medforge/clinical'
import { newRow, record, rowJson, rowLine } from './bench/clinical-cells.ts'
import type { Row } from './bench/clinical-cells.ts'
import type { F32Tensor, LoraModule, MergeInput, MergeMethod } from '@medforge/merge-core'
import type { BackendName, ClassificationMetrics, VitContext, VitWeights } from '@medforge/clinical'
import { FOUR_SITES, SITES } from './bench/clinical-sites.ts'
import type { Site } from './bench/clinical-sites.ts'

const { values } = parseArgs({ options: { backend: { type: 'string' }, 'no-write': { type: 'boolean' }, epochs: { type: 'string' }, seeds: { type: 'string' }, json: { type: 'boolean' } } })
const seeds = Number(values.seeds ?? 3)
const backend = (values.backend ?? 'wasm') as BackendName
const epochs = Number(values.epochs ?? 10)
const tf = await loadTf(backend)
const base = loadBaseWeights()
const lines: string[] = []
const say = (s = ''): void => { console.log(s); lines.push(s) }
const f3 = (x: number): string => x.toFixed(3)

interface Trained { site: Site, module: LoraModule, context: VitContext, inputGrams: Map<string, F32Tensor> | undefined, trainSeconds: number, distillSeconds: number, samples: number, test: ClassificationMetrics, epochs: number }

/** Seed 0 keeps the historical seeds (the site's name), so its numbers compare with earlier runs. */
const seedOf = (site: Site, seed: number): string => seed === 0 ? site.name : `${site.name}|seed-${seed}`

/** A site trained with the same shard, seed and recipe in another configuration is reused (training is deterministic). */
const trainedSites = new Map<string, Promise<Trained>>()

async function trainSite (site: Site, backbone: { weights: VitWeights, cid: string }, withDistill: boolean, seed = 0, head: 'probe' | 'joint' = 'probe'): Promise<Trained> {
  const key = JSON.stringify([site.task, site.index, site.of, site.alpha ?? null, seedOf(site, seed), backbone.cid, withDistill, head])
  let trained = trainedSites.get(key)
  if (trained === undefined) {
    trained = trainSiteOnce(site, backbone, withDistill, seed, head)
    trainedSites.set(key, trained)
  }
  return { ...await trained, site }
}

async function trainSiteOnce (site: Site, backbone: { weights: VitWeights, cid: string }, withDistill: boolean, seed: number, head: 'probe' | 'joint'): Promise<Trained> {
  const shard = siteShard(site.task, site.index, site.of, site.alpha === undefined ? {} : { alpha: site.alpha })
  const classes = CLINICAL_TASKS.get(site.task)!.labels.length
  const t0 = performance.now()
  const result = await trainLora(tf, backbone, shard.train, shard.val, { classes, rank: 4, alpha: 8, targets: ['q_proj', 'v_proj'], epochs, seed: seedOf(site, seed), head })
  const trainSeconds = (performance.now() - t0) / 1000
  let context: VitContext = { inputs: new Float32Array(), labels: new Int32Array() }
  let distillSeconds = 0
  let grams: Map<string, F32Tensor> | undefined
  if (withDistill) {
    const t1 = performance.now()
    const d = await distill(tf, backbone, shard.train, { task: site.task, classes, imagesPerClass: 10, iterations: 200, seed: seedOf(site, seed) })
    grams = inputGrams(tf, backbone.weights, result.module, shard.train)
    distillSeconds = (performance.now() - t1) / 1000
    context = { inputs: d.set.inputs.data, labels: d.set.labels }
  }
  const test = evaluateOnSplit(tf, backbone.weights, result.module, result.module.heads, site.task)
  return { site, module: result.module, context, inputGrams: grams, trainSeconds, distillSeconds, samples: result.samples, test, epochs: result.history.length }
}

const mergeInputs = (trained: readonly Trained[]): MergeInput<VitContext>[] => trained.map(t => ({
  module: t.module, height: t.site.height, task: t.site.task, sampleCount: t.samples, context: t.context, label: t.site.name, ...(t.inputGrams === undefined ? {} : { inputGrams: t.inputGrams })
}))

const runStart = performance.now()
const evaluator = vitEvaluator(base)
const DEFAULT_LABEL = 'MedForge-RegMean (tasks balanced, samples within a task, α 0.9): the network default'
const methods: Array<{ label: string, method: MergeMethod }> = [
  { label: 'uniform average', method: { name: 'linear', weighting: 'uniform' } },
  { label: 'TIES (density 0.5)', method: { name: 'ties', density: 0.5, weighting: 'uniform' } },
  { label: 'DARE (density 0.5)', method: { name: 'dare', density: 0.5, weighting: 'uniform' } },
  { label: 'MedForge-Fusion (factor space, the reference rule)', method: { name: 'medforge-fusion' } },
  { label: 'MedForge-Fusion (product space, distilled-set loss)', method: { name: 'medforge-fusion-product', objective: 'loss' } },
  { label: 'MedForge-Fusion (product space, prediction KL)', method: { name: 'medforge-fusion-product', objective: 'kl' } },
  { label: 'MedForge-Mixture', method: { name: 'medforge-mixture' } },
  { label: 'MedForge-RegMean (per-module)', method: { name: 'medforge-regmean', balance: 'module' } },
  { label: 'MedForge-RegMean (tasks balanced, modules equal within a task)', method: { name: 'medforge-regmean', balance: 'task' } },
  { label: DEFAULT_LABEL, method: { name: 'medforge-regmean' } }
]
/** The four-site configuration runs the baseline, the reference rule and the default only. */
const fourSiteMethods = methods.filter(m => m.label === 'uniform average' || m.method.name === 'medforge-fusion' || m.label === DEFAULT_LABEL)
const tasks = ['pneumonia', 'breast']

interface ConfigurationResult {
  singles: Map<string, Row>
  composites: Map<string, Row>
  /** Per arrival-tracked method: the composite after each module, and what the step chose. */
  arrivals: Map<string, { rows: Row[], notes: string[][] }>
  firstSeed: Trained[]
}

/** Trains every site of a configuration for each seed, merges with each method and evaluates. */
async function runConfiguration (name: string, sites: readonly Site[], configMethods: typeof methods, tracked: readonly string[]): Promise<ConfigurationResult> {
  const out: ConfigurationResult = { singles: new Map(), composites: new Map(configMethods.map(m => [m.label, newRow(`composite: ${m.label}`)])), arrivals: new Map(tracked.map(l => [l, { rows: [], notes: [] }])), firstSeed: [] }
  for (let seed = 0; seed < seeds; seed++) {
    const trained: Trained[] = []
    for (const site of sites) {
      const t = await trainSite(site, base, true, seed)
      console.log(`${name} seed ${seed + 1}/${seeds} ${site.name}: ${t.samples} images, ${t.epochs} epochs, ${t.trainSeconds.toFixed(0)} s training, ${t.distillSeconds.toFixed(0)} s distilling; test ${f3(t.test.accuracy)} / ${f3(t.test.auc)}`)
      trained.push(t)
      const row = out.singles.get(site.name) ?? newRow(`${site.name} module alone (${site.task})`)
      record(row, site.task, predictOnSplit(tf, base.weights, t.module, t.module.heads, site.task), seed)
      out.singles.set(site.name, row)
    }
    if (seed === 0) out.firstSeed = trained
    const inputs = mergeInputs(trained)
    for (const { label, method } of configMethods) {
      const t0 = performance.now()
      const result = await mergeModules(inputs, method, { evaluator })
      const row = out.composites.get(label)!
      row.seconds.push((performance.now() - t0) / 1000)
      for (const task of tasks) record(row, task, compositeTaskPredictions(tf, base.weights, result, task), seed)
      console.log(`${name} seed ${seed + 1}/${seeds} ${label}: ${rowLine(row, tasks)}`)
    }
    // The asynchronous story: the composite after each arrival, in the canonical order.
    const ordered = canonicalOrder(inputs)
    for (const label of tracked) {
      const method = configMethods.find(m => m.label === label)!.method
      const track = out.arrivals.get(label)!
      let state: FusionState | undefined
      for (const [k, input] of ordered.entries()) {
        let composite: { kind: string, module: LoraModule }
        let weights: readonly number[] | undefined
        let note: string
        if (method.name === 'medforge-fusion' || method.name === 'medforge-fusion-product') {
          const canonical = canonicalMethod(method, evaluator.id)
          if (canonical.name !== method.name) throw new Error('unreachable')
          state = await fusionStep(state, input, canonical, evaluator)
          composite = { kind: 'adapter', module: state.module }
          const [a, b] = state.steps.at(-1)!.coefficients
          note = `[${a.toFixed(2)}, ${b.toFixed(2)}]`
        } else {
          const result = await mergeModules(ordered.slice(0, k + 1), method, { evaluator })
          composite = { kind: 'adapter', module: result.composite.kind === 'adapter' ? result.composite.module : input.module }
          weights = result.weights
          note = `w ${(result.weights ?? []).map(w => w.toFixed(2)).join('/')}`
        }
        track.rows[k] ??= newRow(`${k + 1}. ${input.label ?? ''} (${input.task})`)
        for (const task of tasks) record(track.rows[k]!, task, compositeTaskPredictions(tf, base.weights, { composite, inputs: ordered.slice(0, k + 1), ...(weights === undefined ? {} : { weights }) }, task), seed)
        track.notes[k] ??= []
        track.notes[k]!.push(note)
      }
    }
  }
  return out
}

const three = await runConfiguration('3 sites', SITES, methods, ['MedForge-Fusion (factor space, the reference rule)', 'MedForge-Fusion (product space, prediction KL)', DEFAULT_LABEL])
const four = await runConfiguration('4 sites', FOUR_SITES, fourSiteMethods, [DEFAULT_LABEL])
const firstSeed = three.firstSeed

/** Per task: the default composite's mean AUC minus the best single module's, and minus the uniform average's. */
function verdict (r: ConfigurationResult): string {
  const m = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length
  return tasks.map(task => {
    const best = Math.max(...[...r.singles.values()].map(row => row.cells.get(task)).filter(c => c !== undefined).map(c => m(c.auc)))
    const ours = m(r.composites.get(DEFAULT_LABEL)!.cells.get(task)!.auc)
    const uniform = m(r.composites.get('uniform average')!.cells.get(task)!.auc)
    const gap = ours - best
    return `${task}: default ${f3(ours)}, best single ${f3(best)} (${gap >= 0 ? '+' : ''}${f3(gap)}, ${gap >= -0.02 ? 'within' : 'NOT within'} 0.02), uniform ${f3(uniform)} (${ours > uniform ? 'beaten' : 'NOT beaten'})`
  }).join('; ')
}

// What the probe head buys: the first seed's sites with the head trained jointly with the adapter
// (the recipe before issue 13), singles and the two Fusion composites.
const ablation = new Map<string, Row>()
{
  const joint: Trained[] = []
  for (const site of SITES) {
    const t = await trainSite(site, base, true, 0, 'joint')
    joint.push(t)
    const row = ablation.get(site.name) ?? newRow(`${site.name} module alone (${site.task}), joint head`)
    record(row, site.task, predictOnSplit(tf, base.weights, t.module, t.module.heads, site.task), 1)
    ablation.set(site.name, row)
  }
  const inputs = mergeInputs(joint)
  for (const m of methods.filter(x => x.method.name === 'medforge-fusion' || x.label === DEFAULT_LABEL)) {
    const result = await mergeModules(inputs, m.method, { evaluator })
    const row = newRow(`composite: ${m.label}, joint heads`)
    for (const task of tasks) record(row, task, compositeTaskPredictions(tf, base.weights, result, task), 1)
    ablation.set(m.label, row)
  }
}

// What pretraining buys: the first seed's sites trained on a randomly initialised frozen backbone.
const random = { weights: initVitWeights(VIT_TINY, 'random-backbone'), cid: 'random-init' }
const pretrainRows: string[] = []
for (const site of SITES.slice(0, 2)) {
  const r = await trainSite(site, random, false, 0, 'probe')
  const p = firstSeed.find(t => t.site === site)!
  pretrainRows.push(`| ${site.name} (${site.task}) | ${f3(r.test.accuracy)} | ${f3(r.test.auc)} | ${f3(p.test.accuracy)} | ${f3(p.test.auc)} |`)
}

const baselineRow = `| published ResNet-18 (28), trained centrally on all data | ${tasks.flatMap(t => [f3(CLINICAL_TASKS.get(t)!.baseline.acc), f3(CLINICAL_TASKS.get(t)!.baseline.auc)]).join(' | ')} | – |`
const machine = `node ${process.version}, ${cpus().length} x ${cpus()[0]?.model.trim() ?? 'cpu'}, backend ${tf.getBackend()}`
say(`### bench:clinical — ${new Date().toISOString().slice(0, 10)}, ${machine}, ${seeds} seed(s)`)
say()
say(`Base model ${base.cid} (medforge-vit-tiny/v1, FractalDB-pretrained, frozen); LoRA r=4, alpha 8 on q_proj and v_proj, trained against a frozen head (a linear probe fitted on the frozen base first); ${epochs} epochs, keeping the epoch with the best AUC on each site's validation shard (patience 10: no early stop); 10 distilled images per class. Test = official MedMNIST v2 test splits (pneumonia 624 images, breast 156). Each cell: mean ± sd over ${seeds} seed(s) (LoRA initialisation and distillation noise; the sites' data is fixed); AUC cells add [a bootstrap 95% interval] on the first seed's test predictions.`)
say()
say('Sites (shards of the official train split; label skew by Dirichlet(0.5) between the two pneumonia hospitals; first seed):')
say()
say('| site | task | training images | epochs | training s | distillation s |')
say('|---|---|---|---|---|---|')
for (const t of firstSeed) say(`| ${t.site.name} | ${t.site.task} | ${t.samples} | ${t.epochs} | ${t.trainSeconds.toFixed(0)} | ${t.distillSeconds.toFixed(0)} |`)
say()
/** The results table, the default's verdict and the arrival tables of one configuration. */
function report (name: string, r: ConfigurationResult, count: number): void {
  say(`**${name}.** Test ACC / AUC per task (a composite is run with each of that task's contributors' heads and their probabilities averaged; merge s = the whole merge of ${count} modules, first seed):`)
  say()
  say('| model | pneumonia ACC | pneumonia AUC | breast ACC | breast AUC | merge s |')
  say('|---|---|---|---|---|---|')
  for (const row of r.singles.values()) say(rowLine(row, tasks, ['–']))
  for (const row of r.composites.values()) say(rowLine(row, tasks, [row.seconds[0]!.toFixed(1)]))
  say(baselineRow)
  say()
  say(`Default method against the issue 13 targets (mean AUC over seeds): ${verdict(r)}.`)
  for (const [label, track] of r.arrivals) {
    say()
    say(`Asynchronous arrival (${name}; ${label}; canonical order), the composite after each module on the tasks seen so far; per seed, the step's [a, b] (Fusion) or the contributors' weights (RegMean):`)
    say()
    say('| arrival | pneumonia ACC | pneumonia AUC | breast ACC | breast AUC | step |')
    say('|---|---|---|---|---|---|')
    for (const [k, row] of track.rows.entries()) say(rowLine(row, tasks, [track.notes[k]!.join(' ')]))
  }
  say()
}

report('Three sites (the testnet\'s configuration)', three, SITES.length)
report('Four sites (pneumonia split between A and B, breast between C and D)', four, FOUR_SITES.length)
say()
say('What the frozen probe head buys: the same sites (first seed) with the head trained jointly with the adapter, the recipe before issue 13 (compare with the rows above):')
say()
say('| model | pneumonia ACC | pneumonia AUC | breast ACC | breast AUC |')
say('|---|---|---|---|---|')
for (const r of ablation.values()) say(rowLine(r, tasks))
say()
say('What pretraining buys (same shards, same recipe, first seed, test ACC / AUC of the single-site module):')
say()
say('| site | random frozen backbone ACC | AUC | FractalDB-pretrained ACC | AUC |')
say('|---|---|---|---|---|')
for (const r of pretrainRows) say(r)
say()
say(`Whole run: ${((performance.now() - runStart) / 1000).toFixed(0)} s.`)
if (values.json === true) {
  const json = (r: ConfigurationResult): Record<string, unknown> => ({ singles: [...r.singles.values()].map(rowJson), composites: [...r.composites.values()].map(rowJson), arrivals: Object.fromEntries([...r.arrivals].map(([k, t]) => [k, t.rows.map(rowJson)])), verdict: verdict(r) })
  console.log(JSON.stringify({ seeds, default: DEFAULT_LABEL, threeSites: json(three), fourSites: json(four) }, null, 2))
}

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
