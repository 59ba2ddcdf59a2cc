// Issue 13 experiment: a post-merge correction of each contributor's frozen head. The merged update
// moves a task's features (the pneumonia update acts on breast images), and the head was fitted to
// the features of its own module. Each contributor's head is refitted, in closed form, so that on
// a set of its task's images the composite's logits reproduce its own module's logits: ridge
// regression of the single module's logits on the composite's embeddings, pulled towards the
// original head (λ relative to the embeddings' mean energy). The set is the contributor's distilled
// set (20 synthetic images: what the network has) or, as a ceiling the network cannot use, up to
// 400 of its real training images. The composite is the network default (RegMean α 0.9, samples
// within a task); modules cached in /tmp/mf-regmean/SEED (regmean.ts).
//   node scripts/experiments/head-refit.ts [SEEDS=0,1,2] [LAMBDAS=0.01,0.1,1]
import { existsSync, readFileSync } from 'node:fs'
import { decodeModuleFile, ldlFactor, ldlSolve, loraScaling, mergeModules } from '@medforge/merge-core'
import type { F32Tensor, LoraModule, MergeInput } from '@medforge/merge-core'
import { CLINICAL_TASKS, HEAD_BIAS, HEAD_WEIGHT, classificationMetrics, compositeTaskPredictions, createTfVit, distill, inputGrams, loadBaseWeights, loadTf, moduleToTensors, predictOnSplit, siteShard, toInputs } from '@medforge/clinical'
import type { ImageSet } from '@medforge/clinical'
import { SITES } from '../bench/clinical-sites.ts'

const tf = await loadTf('wasm')
const base = loadBaseWeights()
const seeds = (process.argv[2] ?? '0,1,2').split(',')
const lambdas = (process.argv[3] ?? '0.01,0.1,1').split(',').map(Number)
const f3 = (x: number): string => x.toFixed(3)
const auc = (p: { probabilities: Float64Array, classes: number, labels: Int32Array } | undefined): number => p === undefined ? NaN : classificationMetrics(p.probabilities, p.classes, p.labels).auc
const c = base.weights.config

/** Embeddings [n, d] of preprocessed inputs under base + adapter. */
function embed (inputs: Float32Array, n: number, adapter: LoraModule): { data: Float32Array, d: number } {
  const vit = createTfVit(tf, base.weights)
  const { lora } = moduleToTensors(tf, adapter)
  try {
    const e = tf.tidy(() => vit.embed(tf.tensor(inputs, [n, c.channels, c.imageSize, c.imageSize]), lora, loraScaling(adapter.config)))
    const out = { data: e.dataSync() as Float32Array, d: e.shape[1]! }
    e.dispose()
    return out
  } finally {
    vit.dispose()
    for (const p of lora.values()) { p.A.dispose(); p.B.dispose() }
  }
}

/** The head refitted so that W'·e_c + b' ≈ W·e_s + b on the set, ridge towards (W, b). */
function refit (heads: ReadonlyMap<string, F32Tensor>, own: { data: Float32Array, d: number }, comp: { data: Float32Array, d: number }, n: number, lambda: number): Map<string, F32Tensor> {
  const W = heads.get(HEAD_WEIGHT)!; const b = heads.get(HEAD_BIAS)!
  const k = b.shape[0]!; const d = own.d; const m = d + 1
  const theta0 = new Float64Array(m * k) // [W^T; b]
  for (let j = 0; j < k; j++) { for (let i = 0; i < d; i++) theta0[i * k + j] = W.data[j * d + i]!; theta0[d * k + j] = b.data[j]! }
  const ZtZ = new Float64Array(m * m); const ZtT = new Float64Array(m * k)
  for (let s = 0; s < n; s++) {
    const z = new Float64Array(m); for (let i = 0; i < d; i++) z[i] = comp.data[s * d + i]!; z[d] = 1
    const t = new Float64Array(k); for (let j = 0; j < k; j++) { let v = b.data[j]!; for (let i = 0; i < d; i++) v += W.data[j * d + i]! * own.data[s * d + i]!; t[j] = v }
    for (let a = 0; a < m; a++) { for (let q = 0; q < m; q++) ZtZ[a * m + q] = ZtZ[a * m + q]! + z[a]! * z[q]!; for (let j = 0; j < k; j++) ZtT[a * k + j] = ZtT[a * k + j]! + z[a]! * t[j]! }
  }
  let energy = 0; for (let a = 0; a < m; a++) energy += ZtZ[a * m + a]!
  const ridge = lambda * energy / m
  for (let a = 0; a < m; a++) { ZtZ[a * m + a] = ZtZ[a * m + a]! + ridge; for (let j = 0; j < k; j++) ZtT[a * k + j] = ZtT[a * k + j]! + ridge * theta0[a * k + j]! }
  const factor = ldlFactor(ZtZ, m)
  if (factor === undefined) throw new Error('the ridge system is not positive-definite')
  const theta = ldlSolve(factor, ZtT, k)
  const W2 = new Float32Array(k * d); const b2 = new Float32Array(k)
  for (let j = 0; j < k; j++) { for (let i = 0; i < d; i++) W2[j * d + i] = theta[i * k + j]!; b2[j] = theta[d * k + j]! }
  return new Map([...heads, [HEAD_WEIGHT, { shape: [...W.shape], data: W2 }], [HEAD_BIAS, { shape: [...b.shape], data: b2 }]])
}

function subsample (set: ImageSet, max: number): { inputs: Float32Array, n: number } {
  const all = toInputs(set)
  const n = Math.min(max, set.count)
  const per = all.length / set.count
  const step = set.count / n
  const out = new Float32Array(n * per)
  for (let s = 0; s < n; s++) out.set(all.subarray(Math.floor(s * step) * per, (Math.floor(s * step) + 1) * per), s * per)
  return { inputs: out, n }
}

const table = new Map<string, number[][]>()
const note = (label: string, v: number[]): void => { const t = table.get(label) ?? []; t.push(v); table.set(label, t) }
for (const seed of seeds) {
  const mods: Array<MergeInput & { distilled: { inputs: Float32Array, n: number }, real: { inputs: Float32Array, n: number } }> = []
  for (const site of SITES) {
    const shard = siteShard(site.task, site.index, site.of, site.alpha === undefined ? {} : { alpha: site.alpha })
    const file = `/tmp/mf-regmean/${seed}/${site.name.replace(/ /g, '-')}.safetensors`
    if (!existsSync(file)) throw new Error(`${file} missing: run scripts/experiments/regmean.ts ${seed} first`)
    const module = decodeModuleFile(readFileSync(file), file)
    const classes = CLINICAL_TASKS.get(site.task)!.labels.length
    const d = await distill(tf, base, shard.train, { task: site.task, classes, imagesPerClass: 10, iterations: 200, seed: `${seed}|${site.name}` })
    mods.push({ module, height: site.height, task: site.task, sampleCount: shard.train.count, label: site.name, inputGrams: inputGrams(tf, base.weights, module, shard.train), distilled: { inputs: d.set.inputs.data, n: d.set.labels.length }, real: subsample(shard.train, 400) })
    note(`single ${site.name}`, [auc(predictOnSplit(tf, base.weights, module, module.heads, site.task))])
  }
  const r = await mergeModules(mods, { name: 'medforge-regmean', shrink: 0.9, balance: 'samples' })
  const composite = (r.composite as { module: LoraModule }).module
  const score = (label: string, heads: (i: number) => ReadonlyMap<string, F32Tensor>): void => {
    const inputs = r.inputs.map((inp, i) => ({ module: { ...inp.module, heads: heads(i) }, task: inp.task }))
    const res = { ...r, inputs }
    const v = [auc(compositeTaskPredictions(tf, base.weights, res, 'pneumonia')), auc(compositeTaskPredictions(tf, base.weights, res, 'breast'))]
    note(label, v)
    console.log(`seed ${seed} ${label}: pneumonia ${f3(v[0]!)} breast ${f3(v[1]!)}`)
  }
  score('default composite, heads as shipped', i => r.inputs[i]!.module.heads)
  const byLabel = new Map(mods.map(m => [m.label, m]))
  for (const source of ['distilled', 'real'] as const) {
    const feats = r.inputs.map(inp => {
      const m = byLabel.get(inp.label!)!
      const set = m[source]
      return { own: embed(set.inputs, set.n, inp.module), comp: embed(set.inputs, set.n, composite), n: set.n }
    })
    for (const lambda of lambdas) score(`heads refitted on the ${source} set, λ ${lambda}`, i => refit(r.inputs[i]!.module.heads, feats[i]!.own, feats[i]!.comp, feats[i]!.n, lambda))
  }
}
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length
const sd = (xs: number[]): number => Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / Math.max(1, xs.length - 1))
console.log('\nmeans over seeds (± sd)')
for (const [label, rows] of table) console.log(`${label.padEnd(48)} ${rows[0]!.map((_, k) => `${f3(mean(rows.map(r => r[k]!)))} ± ${f3(sd(rows.map(r => r[k]!)))}`).join('  ')}`)
