// `medforge data shard | train | eval`: what an institution runs on its own machine with its own
// data. Nothing but the bundle `train` writes ever needs to leave the site.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { COMPOSITE_MANIFEST, decodeSafetensors, readPeftAdapter } from '@medforge/merge-core'
import { CLINICAL_TASKS, HEAD_BIAS, HEAD_WEIGHT, classCounts, clinicalTask, distill, encodeNpz, evaluateOnSet, evaluateOnSplit, inputGrams, inspectDataset, loadBaseWeights, loadTf, siteShard, subset, trainLora } from '@medforge/clinical'
import type { LoraModule } from '@medforge/merge-core'
import type { BackendName, ClassificationMetrics } from '@medforge/clinical'
import { writeModuleBundle } from './module-bundle.ts'
import { progressBar } from './progress.ts'
import { TASK_OPTIONS, resolveTask, siteData } from './site-data.ts'
import { UsageError } from './usage-error.ts'

export const CLINICAL_HELP = `medforge data | train | eval — the clinical pipeline: a site's own data, or the demo's vendored MedMNIST v2 tasks (${[...CLINICAL_TASKS.keys()].join(', ')})

  TASK is --task T with the network's registry: --manifest NET.json, or --data-dir DIR of a
  joined daemon (without either, T is a demo task)

  medforge data inspect PATH [--json]
        classes, counts per split, image sizes and channels of a dataset, before training
  medforge data shard --task T --sites N --site I [--alpha A] [--seed S] --out SHARD.npz
        a demo site's deterministic shard of the official train and val splits (label-skewed
        with Dirichlet(A); IID without --alpha)
  medforge train TASK (--data PATH | --site I/N [--alpha A]) [--seed S] --out DIR
        [--backend wasm|cpu|gpu] [--epochs N] [--batch N] [--lr X] [--patience N]
        [--rank R] [--lora-alpha A] [--targets q_proj,v_proj] [--head probe|joint]
        [--ipc N] [--distill-iterations N] [--dp-epsilon E --dp-delta D] [--json]
        PATH is a folder with one sub-folder per class (named as the task's classes; PNG or
        JPEG, any size, grey or colour; optional train/ val/ test/ levels) or a MedMNIST-format
        .npz (train_/val_/test_ images and labels, grey or colour); without a val split a
        seeded, stratified 10% of train is held out. Fits the task head on the frozen base (a
        linear probe; --head joint trains it with the adapter instead), trains the LoRA module
        against it (keeping its best validation epoch), distils a small synthetic set (differentially
        private with --dp-epsilon) and writes the bundle
  medforge eval TASK [--data PATH] [--split test|val] [--backend B] [--json] DIR
        accuracy, ROC AUC (one-vs-rest macro for more than two classes), F1 and the confusion
        matrix, on PATH's split or the demo task's official one; DIR is a module bundle or an
        exported composite (evaluated with that task's head)
`

function num (v: string | undefined, fallback: number, flag: string, integer = false): number {
  if (v === undefined) return fallback
  const n = Number(v)
  if (!Number.isFinite(n) || (integer && !Number.isSafeInteger(n))) throw new UsageError(`${flag} must be a${integer ? 'n integer' : ' number'}, got "${v}"`)
  return n
}

function headModeOf (v: string | undefined): 'probe' | 'joint' {
  const h = v ?? 'probe'
  if (h !== 'probe' && h !== 'joint') throw new UsageError(`--head must be probe or joint, got "${h}"`)
  return h
}

function backendOf (v: string | undefined): BackendName {
  const b = v ?? 'wasm'
  if (b !== 'wasm' && b !== 'cpu' && b !== 'gpu') throw new UsageError(`--backend must be wasm, cpu or gpu, got "${b}"`)
  return b
}

export async function dataCommand (args: string[]): Promise<void> {
  const [sub, ...rest] = args
  if (sub === 'inspect') { dataInspect(rest); return }
  if (sub !== 'shard') throw new UsageError(`unknown data command "${sub ?? ''}" (inspect, shard)`)
  const { values } = parseArgs({ args: rest, options: { task: { type: 'string' }, sites: { type: 'string' }, site: { type: 'string' }, alpha: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' } } })
  if (values.task === undefined || values.sites === undefined || values.site === undefined || values.out === undefined) throw new UsageError('data shard needs --task, --sites, --site and --out')
  const task = clinicalTask(values.task)
  const shard = siteShard(task.id, num(values.site, 0, '--site', true), num(values.sites, 1, '--sites', true), { ...(values.alpha === undefined ? {} : { alpha: num(values.alpha, 0, '--alpha') }), seed: values.seed ?? 'medforge' })
  const arrays = new Map([
    ['train_images', { dtype: 'u1' as const, shape: [shard.train.count, shard.train.side, shard.train.side], data: shard.train.images }],
    ['train_labels', { dtype: 'u1' as const, shape: [shard.train.count, 1], data: Uint8Array.from(shard.train.labels) }],
    ['val_images', { dtype: 'u1' as const, shape: [shard.val.count, shard.val.side, shard.val.side], data: shard.val.images }],
    ['val_labels', { dtype: 'u1' as const, shape: [shard.val.count, 1], data: Uint8Array.from(shard.val.labels) }]
  ])
  writeFileSync(values.out, encodeNpz(arrays))
  console.log(`${task.id} site ${values.site} of ${values.sites}: ${shard.train.count} train (per class ${classCounts(shard.train, task.labels.length).join('/')}), ${shard.val.count} val → ${values.out}`)
}

/** `medforge data inspect PATH`: what a dataset holds, before any training. */
function dataInspect (args: string[]): void {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' } } })
  if (positionals.length !== 1) throw new UsageError('data inspect takes one PATH (a folder of class folders, or a MedMNIST-format .npz)')
  const s = inspectDataset(positionals[0]!)
  if (values.json === true) { console.log(JSON.stringify(s, null, 2)); return }
  console.log(`${s.source} (${s.format === 'npz' ? 'MedMNIST-format .npz' : 'image folder'})`)
  console.log(`classes   ${s.classes.join(', ')}`)
  for (const [split, c] of Object.entries(s.splits)) console.log(`${split.padEnd(9)} ${String(c.count).padStart(6)} images   per class ${c.perClass.join(' / ')}`)
  const sizes = Object.entries(s.sizes).sort((a, b) => b[1] - a[1])
  console.log(`sizes     ${sizes.slice(0, 6).map(([k, n]) => `${k} (${n})`).join(', ')}${sizes.length > 6 ? `, and ${sizes.length - 6} more` : ''}`)
  console.log(`channels  ${Object.entries(s.channels).map(([k, n]) => `${k === '1' ? 'grey' : 'colour'} (${n})`).join(', ')}`)
  if (!('val' in s.splits)) console.log('no validation split: training draws a seeded, stratified 10% of train')
}

function formatMetrics (m: ClassificationMetrics): string {
  return `ACC ${m.accuracy.toFixed(3)}  AUC ${m.auc.toFixed(3)}  F1 ${m.f1.toFixed(3)}`
}

export async function trainCommand (args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      ...TASK_OPTIONS, data: { type: 'string' }, site: { type: 'string' }, alpha: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' },
      backend: { type: 'string' }, epochs: { type: 'string' }, batch: { type: 'string' }, lr: { type: 'string' }, patience: { type: 'string' },
      rank: { type: 'string' }, 'lora-alpha': { type: 'string' }, targets: { type: 'string' }, head: { type: 'string' }, ipc: { type: 'string' }, 'distill-iterations': { type: 'string' },
      'dp-epsilon': { type: 'string' }, 'dp-delta': { type: 'string' }, json: { type: 'boolean' }, 'max-train': { type: 'string' }
    }
  })
  if (values.task === undefined || values.out === undefined) throw new UsageError('train needs --task and --out')
  if (values.data !== undefined && values.site !== undefined) throw new UsageError('train takes --data PATH or --site I/N, not both')
  if ((values['dp-epsilon'] === undefined) !== (values['dp-delta'] === undefined)) throw new UsageError('--dp-epsilon and --dp-delta go together')
  const task = await resolveTask(values)
  const classes = task.labels.length
  const seed = values.seed ?? 'medforge'
  let shard = siteData(task, { data: values.data, site: values.site, alpha: values.alpha === undefined ? undefined : num(values.alpha, 0, '--alpha'), seed })
  const maxTrain = values['max-train'] === undefined ? undefined : num(values['max-train'], 0, '--max-train', true)
  if (maxTrain !== undefined && shard.train.count > maxTrain) shard = { ...shard, train: subset(shard.train, Array.from({ length: maxTrain }, (_, i) => i)) }
  const log = values.json === true ? () => {} : (line: string) => console.log(line)
  const tf = await loadTf(backendOf(values.backend))
  const base = loadBaseWeights()
  const rank = num(values.rank, 4, '--rank', true)
  const loraAlpha = num(values['lora-alpha'], 8, '--lora-alpha')
  const targets = (values.targets ?? 'q_proj,v_proj').split(',')
  log(`${task.id}: ${shard.train.count} training images (per class ${classCounts(shard.train, classes).join('/')}), ${shard.val.count} validation${shard.generatedVal ? ' (drawn from train, seeded)' : ''}, ${task.channels === 1 ? 'grey' : 'RGB'} ${task.side}x${task.side}; backend ${tf.getBackend()}`)
  const bar = progressBar('  training')
  const t0 = performance.now()
  const result = await trainLora(tf, base, shard.train, shard.val, {
    classes, rank, alpha: loraAlpha, targets,
    epochs: num(values.epochs, 12, '--epochs', true),
    batchSize: num(values.batch, 64, '--batch', true),
    learningRate: num(values.lr, 2e-3, '--lr'),
    patience: num(values.patience, 10, '--patience', true),
    seed: `${seed}|${values.site ?? values.data}`,
    head: headModeOf(values.head),
    onBatch: (done, total) => bar.update(done, total),
    onEpoch: e => { bar.done(); log(`  epoch ${String(e.epoch).padStart(2)}  loss ${e.loss.toFixed(4)}  val ${formatMetrics(e.val)}${e.best ? '  (best)' : ''}  ${(e.ms / 1000).toFixed(1)} s`) }
  })
  const trainSeconds = (performance.now() - t0) / 1000
  const best = result.history.find(h => h.epoch === result.bestEpoch)!
  log(`  kept epoch ${result.bestEpoch} (val AUC ${best.val.auc.toFixed(3)}), ${trainSeconds.toFixed(0)} s`)
  const dp = values['dp-epsilon'] === undefined ? undefined : { epsilon: num(values['dp-epsilon'], 0, '--dp-epsilon'), delta: num(values['dp-delta'], 0, '--dp-delta') }
  const dbar = progressBar('  distilling')
  const iterations = num(values['distill-iterations'], 200, '--distill-iterations', true)
  const distilled = await distill(tf, base, shard.train, {
    task: task.id, classes, imagesPerClass: num(values.ipc, 10, '--ipc', true), iterations, seed: `${seed}|${values.site ?? values.data}`,
    ...(dp === undefined ? {} : { dp }),
    onProgress: (i, loss) => dbar.update(i, iterations, `matching loss ${loss.toFixed(4)}`)
  })
  dbar.done()
  log(`  distilled ${distilled.set.labels.length} synthetic images (matching loss ${distilled.report.loss.toFixed(4)})${distilled.report.dp === undefined ? '' : `, (ε=${dp!.epsilon}, δ=${dp!.delta})-DP: σ=${distilled.report.dp.sigma.toFixed(3)} on sums of sensitivity √2`}`)
  // Input statistics for RegMean merges; not differentially private, so a DP site ships none
  // (the merge then counts its update with identity statistics).
  const grams = dp === undefined ? inputGrams(tf, base.weights, result.module, shard.train) : undefined
  const set = grams === undefined ? distilled.set : { ...distilled.set, inputGrams: grams }
  if (grams === undefined) log('  no input statistics shipped (they are not covered by the DP guarantee)')
  const meta = {
    task: task.id,
    samples: result.samples,
    metrics: { val_auc: best.val.auc, val_accuracy: best.val.accuracy, val_f1: best.val.f1 },
    training: { epochs: result.history.length, bestEpoch: result.bestEpoch, seconds: Math.round(trainSeconds), backend: tf.getBackend(), rank, alpha: loraAlpha, targets, baseModel: base.cid },
    distillation: { imagesPerClass: num(values.ipc, 10, '--ipc', true), iterations, loss: distilled.report.loss, inputStatistics: grams !== undefined, ...(distilled.report.dp === undefined ? {} : { dp: distilled.report.dp }) }
  }
  writeModuleBundle(values.out, result.module, set, meta)
  if (values.json === true) console.log(JSON.stringify({ out: values.out, ...meta, history: result.history }, null, 2))
  else log(`wrote the module bundle to ${values.out}`)
}

/** A module bundle's own head, or the head an exported composite keeps for `task`. */
function loadForEval (dir: string, task: string): { adapter: LoraModule, head: ReadonlyMap<string, { shape: readonly number[], data: Float32Array }> } {
  const { module } = readPeftAdapter(dir)
  if (module.heads.size > 0) return { adapter: module, head: module.heads }
  let description: { inputs?: Array<{ task?: string, head?: string }> }
  try {
    description = JSON.parse(readFileSync(join(dir, COMPOSITE_MANIFEST), 'utf8')) as typeof description
  } catch {
    throw new UsageError(`${dir} has no task head and no ${COMPOSITE_MANIFEST}: nothing to classify with`)
  }
  const input = description.inputs?.find(i => i.task === task && i.head !== undefined)
  if (input === undefined) throw new UsageError(`the composite in ${dir} has no module for task "${task}"`)
  const head = decodeSafetensors(readFileSync(join(dir, input.head!)), { source: join(dir, input.head!) }).tensors
  if (!head.has(HEAD_WEIGHT) || !head.has(HEAD_BIAS)) throw new UsageError(`${input.head} is not a classifier head`)
  return { adapter: module, head }
}

export async function evalCommand (args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { ...TASK_OPTIONS, data: { type: 'string' }, seed: { type: 'string' }, backend: { type: 'string' }, split: { type: 'string' }, json: { type: 'boolean' } } })
  if (values.task === undefined || positionals.length !== 1) throw new UsageError('eval takes --task T and one bundle or composite folder')
  const task = await resolveTask(values)
  const split = values.split ?? 'test'
  if (split !== 'test' && split !== 'val') throw new UsageError('--split must be test or val')
  const { adapter, head } = loadForEval(positionals[0]!, task.id)
  const tf = await loadTf(backendOf(values.backend))
  const weights = loadBaseWeights().weights
  let m: ClassificationMetrics
  let where: string
  if (values.data !== undefined) {
    const data = siteData(task, { data: values.data, seed: values.seed ?? 'medforge' })
    const set = split === 'test' ? data.test : data.val
    if (set === undefined) throw new UsageError(`${values.data} has no test split (a test/ folder, or test_images in the .npz); use --split val`)
    m = evaluateOnSet(tf, weights, adapter, head, set)
    where = `${values.data} ${split}`
  } else {
    if (!CLINICAL_TASKS.has(task.id)) throw new UsageError(`task "${task.id}" has no vendored test split: give the data to evaluate on with --data PATH`)
    m = evaluateOnSplit(tf, weights, adapter, head, task.id, split)
    where = `official ${split} split`
  }
  if (values.json === true) { console.log(JSON.stringify({ task: task.id, split, data: values.data ?? null, ...m }, null, 2)); return }
  console.log(`${task.id} (${where}, ${m.count} images): ${formatMetrics(m)}${task.labels.length > 2 ? ' (AUC one-vs-rest macro, F1 macro)' : ''}`)
  console.log(`confusion (rows true ${task.labels.join('/')}, columns predicted):`)
  for (const [i, row] of m.confusion.entries()) console.log(`  ${task.labels[i]!.padEnd(18)} ${row.map(v => String(v).padStart(5)).join(' ')}`)
  if (task.baseline !== undefined && values.data === undefined) console.log(`published MedMNIST v2 ResNet-18 (28): ACC ${task.baseline.acc.toFixed(3)}  AUC ${task.baseline.auc.toFixed(3)}`)
}
