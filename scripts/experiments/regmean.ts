// Issue 13 experiment: RegMean-style merging of LoRA updates. Each module ships the Gram matrix of
// the inputs its LoRA layers saw on its own training data (Σ xᵀx, normalised); the composite's
// update is the least-squares fit to every module's layer outputs on its own inputs:
//   ΔW* = (Σᵢ wᵢ·ΔWᵢ·Gᵢ)·(Σᵢ wᵢ·Gᵢ)⁻¹, with off-diagonals of each G shrunk by α,
// written exactly as a rank concatenation (Aᵢ' = Aᵢ·Gᵢ·G⁻¹). Compared with the product-space sum
// and mean and with the single modules, per seed.
//   node scripts/experiments/regmean.ts [SEEDS=0,1,2] [ALPHAS=0.5,0.9,1]
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { combineProduct, decodeModuleFile, encodeModuleFile, loraScaling, withRank } from '@medforge/merge-core'
import { CLINICAL_TASKS, PEFT_PREFIX, classificationMetrics, compositeTaskPredictions, createTfVit, loadBaseWeights, loadTf, moduleToTensors, predictOnSplit, siteShard, toInputs, trainLora } from '@medforge/clinical'
import type { LoraModule, LoraPair } from '@medforge/merge-core'
import type { ImageSet, Tf } from '@medforge/clinical'
import { SITES } from '../bench/clinical-sites.ts'

const tf = await loadTf('wasm')
const base = loadBaseWeights()
const seeds = (process.argv[2] ?? '0,1,2').split(',')
const alphas = (process.argv[3] ?? '0.5,0.9,1').split(',').map(Number)
const f3 = (x: number) => x.toFixed(3)
const auc = (p: { probabilities: Float64Array, classes: number, labels: Int32Array } | undefined) => p === undefined ? NaN : classificationMetrics(p.probabilities, p.classes, p.labels).auc

/** Per LoRA layer (PEFT key), the mean over input rows of xᵀx, binary64 [in·in]. */
function grams (t: Tf, module: LoraModule, set: ImageSet): Map<string, Float64Array> {
  const vit = createTfVit(t, base.weights)
  const { lora } = moduleToTensors(t, module)
  const c = base.weights.config
  const per = c.channels * c.imageSize * c.imageSize
  const inputs = toInputs(set)
  const acc = new Map<string, Float64Array>()
  const rows = new Map<string, number>()
  for (let i = 0; i < set.count; i += 128) {
    const m = Math.min(128, set.count - i)
    const taps: Array<[string, ReturnType<typeof t.matMul>, number]> = []
    t.tidy(() => {
      vit.embed(t.tensor(inputs.subarray(i * per, (i + m) * per), [m, c.channels, c.imageSize, c.imageSize]), lora, loraScaling(module.config), (layer, x) => {
        if (module.layers.has(PEFT_PREFIX + layer)) taps.push([PEFT_PREFIX + layer, t.keep(t.matMul(x, x, true, false)), x.shape[0]!])
      })
    })
    for (const [key, g, n] of taps) {
      const d = g.dataSync()
      const a = acc.get(key) ?? new Float64Array(d.length)
      for (let k = 0; k < d.length; k++) a[k] = a[k]! + d[k]!
      acc.set(key, a)
      rows.set(key, (rows.get(key) ?? 0) + n)
      g.dispose()
    }
  }
  vit.dispose()
  for (const p of lora.values()) { p.A.dispose(); p.B.dispose() }
  for (const [key, a] of acc) { const n = rows.get(key)!; for (let k = 0; k < a.length; k++) a[k] = a[k]! / n }
  return acc
}

/** Solves S·X = M for symmetric positive-definite S [n·n] and M [n·r] (Cholesky, binary64). */
function solveSpd (S: Float64Array, M: Float64Array, n: number, r: number): Float64Array {
  const L = new Float64Array(n * n)
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = S[i * n + j]!
      for (let k = 0; k < j; k++) s -= L[i * n + k]! * L[j * n + k]!
      L[i * n + j] = i === j ? Math.sqrt(s) : s / L[j * n + j]!
    }
  }
  const X = Float64Array.from(M)
  for (let c = 0; c < r; c++) {
    for (let i = 0; i < n; i++) { let s = X[i * r + c]!; for (let k = 0; k < i; k++) s -= L[i * n + k]! * X[k * r + c]!; X[i * r + c] = s / L[i * n + i]! }
    for (let i = n - 1; i >= 0; i--) { let s = X[i * r + c]!; for (let k = i + 1; k < n; k++) s -= L[k * n + i]! * X[k * r + c]!; X[i * r + c] = s / L[i * n + i]! }
  }
  return X
}

function shrink (G: Float64Array, n: number, alpha: number, weight: number): Float64Array {
  let tr = 0
  for (let i = 0; i < n; i++) tr += G[i * n + i]!
  const out = new Float64Array(n * n)
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i * n + j] = weight * (i === j ? 1 : alpha) * G[i * n + j]! / tr * n
  return out
}

/** RegMean over modules with task weights: ΔW* = Σᵢ sᵢBᵢ·(AᵢG̃ᵢ)·(ΣG̃)⁻¹, as one rank-concatenated module. */
function regmean (mods: ReadonlyArray<{ module: LoraModule, grams: Map<string, Float64Array>, weight: number }>, alpha: number, ridge = 1e-4): LoraModule {
  const first = mods[0]!.module
  const layers = new Map<string, LoraPair>()
  let rank = 0
  for (const layer of first.layers.keys()) {
    const n = first.layers.get(layer)!.A.shape[1]!
    const gs = mods.map(m => shrink(m.grams.get(layer)!, n, alpha, m.weight))
    const S = new Float64Array(n * n)
    for (const g of gs) for (let k = 0; k < S.length; k++) S[k] = S[k]! + g[k]!
    for (let i = 0; i < n; i++) S[i * n + i] = S[i * n + i]! + ridge
    const As: Float32Array[] = []
    const Bs: LoraPair['B'][] = []
    let r = 0
    mods.forEach((m, idx) => {
      const p = m.module.layers.get(layer)!
      const ri = p.A.shape[0]!
      const s = loraScaling(m.module.config)
      // M = G̃ᵢ·Aᵢᵀ [n, ri]; Aᵢ' = (S⁻¹·M)ᵀ·sᵢ
      const M = new Float64Array(n * ri)
      const g = gs[idx]!
      for (let a = 0; a < n; a++) for (let c = 0; c < ri; c++) { let v = 0; for (let k = 0; k < n; k++) v += g[a * n + k]! * p.A.data[c * n + k]!; M[a * ri + c] = v }
      const X = solveSpd(S, M, n, ri)
      const A = new Float32Array(ri * n)
      for (let c = 0; c < ri; c++) for (let a = 0; a < n; a++) A[c * n + a] = Math.fround(s * X[a * ri + c]!)
      As.push(A); Bs.push(p.B); r += ri
    })
    const rows = first.layers.get(layer)!.B.shape[0]!
    const A = new Float32Array(r * n)
    const B = new Float32Array(rows * r)
    let off = 0
    As.forEach((a, idx) => {
      const ri = a.length / n
      A.set(a, off * n)
      for (let o = 0; o < rows; o++) B.set(Bs[idx]!.data.subarray(o * ri, (o + 1) * ri), o * r + off)
      off += ri
    })
    rank = Math.max(rank, r)
    layers.set(layer, { A: { shape: [r, n], data: A }, B: { shape: [rows, r], data: B } })
  }
  return { config: withRank(first.config, rank, rank), layers, heads: new Map() }
}

const table = new Map<string, number[][]>()
const note = (label: string, values: number[]) => { const t = table.get(label) ?? []; t.push(values); table.set(label, t) }
for (const seed of seeds) {
  const dir = `/tmp/mf-regmean/${seed}`
  mkdirSync(dir, { recursive: true })
  const mods: Array<{ site: typeof SITES[number], module: LoraModule, grams: Map<string, Float64Array> }> = []
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
    mods.push({ site, module, grams: grams(tf, module, shard.train) })
    note(`single ${site.name}`, [auc(predictOnSplit(tf, base.weights, module, module.heads, site.task))])
  }
  const inputs = mods.map(m => ({ module: m.module, task: m.site.task }))
  const score = (label: string, module: LoraModule) => {
    const r = { composite: { kind: 'adapter', module }, inputs }
    const v = [auc(compositeTaskPredictions(tf, base.weights, r, 'pneumonia')), auc(compositeTaskPredictions(tf, base.weights, r, 'breast'))]
    note(label, v)
    console.log(`seed ${seed} ${label}: pneumonia ${f3(v[0]!)} breast ${f3(v[1]!)}`)
  }
  const [A, C, B] = mods as [typeof mods[0], typeof mods[0], typeof mods[0]]
  const pneu = combineProduct(A.module, B.module, 0.5, 0.5)
  score('product task-mean sum', combineProduct(pneu, C.module, 1, 1))
  score('pneumonia only: product mean', pneu)
  score('pneumonia only: product sum', combineProduct(A.module, B.module, 1, 1))
  score('pneumonia only: regmean α=0.5', regmean([A, B].map(m => ({ ...m, weight: 1 })), 0.5))
  // Within a task by training samples (RegMean's own Gram sums), each task one say; heads averaged
  // equally, or by samples too.
  const samples = new Map(mods.map(m => [m, siteShard(m.site.task, m.site.index, m.site.of, m.site.alpha === undefined ? {} : { alpha: m.site.alpha }).train.count]))
  const taskTotal = (task: string) => mods.filter(m => m.site.task === task).reduce((a, m) => a + samples.get(m)!, 0)
  const bySamples = regmean(mods.map(m => ({ ...m, weight: samples.get(m)! / taskTotal(m.site.task) })), 0.9)
  score('regmean α=0.9 task-balanced, by samples within a task', bySamples)
  const headWeighted = (module: LoraModule, task: string) => {
    const group = mods.filter(m => m.site.task === task)
    const ps = group.map(m => predictOnSplit(tf, base.weights, module, m.module.heads, task))
    const out = new Float64Array(ps[0]!.probabilities.length)
    group.forEach((m, i) => { const w = samples.get(m)! / taskTotal(task); for (let k = 0; k < out.length; k++) out[k] = out[k]! + w * ps[i]!.probabilities[k]! })
    return { probabilities: out, classes: ps[0]!.classes, labels: ps[0]!.labels }
  }
  const hv = [auc(headWeighted(bySamples, 'pneumonia')), auc(headWeighted(bySamples, 'breast'))]
  note('  ... and heads weighted by samples', hv)
  console.log(`seed ${seed} heads weighted by samples: pneumonia ${f3(hv[0]!)} breast ${f3(hv[1]!)}`)
  for (const alpha of alphas) {
    score(`regmean α=${alpha} task-weighted`, regmean(mods.map(m => ({ ...m, weight: m.site.task === 'pneumonia' ? 0.5 : 1 })), alpha))
    score(`regmean α=${alpha} per-module`, regmean(mods.map(m => ({ ...m, weight: 1 })), alpha))
  }
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
console.log('\nmeans over seeds')
for (const [label, rows] of table) console.log(`${label.padEnd(36)} ${rows[0]!.map((_, k) => f3(mean(rows.map(r => r[k]!)))).join('  ')}`)
