// The vision model on small subsets: the committed base weights, the deterministic forward pass
// (golden hash, agreement with TensorFlow.js), LoRA training, distillation (plain and DP), and
// MedForge-Fusion / -Mixture end to end with the model's loss.
import { describe, it, before } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { BASE_MODEL_CID, BackendUnavailableError, HEAD_BIAS, HEAD_WEIGHT, VitDet, calibrateGaussianSigma, createTfVit, distill, loadBaseWeights, loadSplit, loadTf, loraLayers, oneCycleRate, pretrainVit, subset, toInputs, trainLora, vitEvaluator, VIT_ARCHITECTURE } from '../src/index.ts'
import { Xoshiro128, mergeModules, newLoraConfig } from '@medforge/merge-core'
import type { Tf, VitContext } from '../src/index.ts'
import type { LoraModule, LoraPair, MergeInput } from '@medforge/merge-core'

const base = loadBaseWeights()
const c = base.weights.config

/** A fixed, non-trivial LoRA module and head, drawn from a seeded stream. */
function seededModule (seed: string, classes = 2): LoraModule {
  const rng = Xoshiro128.fromString(seed)
  const fill = (n: number, scale: number): Float32Array => Float32Array.from({ length: n }, () => (rng.nextU32() / 4294967296 - 0.5) * scale)
  const layers = new Map<string, LoraPair>()
  for (const l of loraLayers(c, ['q_proj', 'v_proj'])) layers.set(l.name, { A: { shape: [4, l.inFeatures], data: fill(4 * l.inFeatures, 0.5) }, B: { shape: [l.outFeatures, 4], data: fill(4 * l.outFeatures, 0.5) } })
  return {
    config: newLoraConfig({ baseModel: `${VIT_ARCHITECTURE}@${base.cid}`, r: 4, loraAlpha: 8, targetModules: ['q_proj', 'v_proj'], modulesToSave: ['classifier'] }),
    layers,
    heads: new Map([[HEAD_BIAS, { shape: [classes], data: fill(classes, 0.2) }], [HEAD_WEIGHT, { shape: [classes, c.projection], data: fill(classes * c.projection, 1) }]])
  }
}

const sample = subset(loadSplit('pneumonia', 'test'), [0, 1, 2, 3, 4, 5, 6, 7])
const inputs = toInputs(sample)

describe('base model', () => {
  it('is the committed, FractalDB-pretrained file with the recorded CID', () => {
    assert.equal(base.cid, BASE_MODEL_CID)
    assert.deepEqual([c.imageSize, c.patchSize, c.hidden, c.layers, c.heads], [28, 7, 64, 4, 4])
    assert.ok(base.weights.tensors.has('vision_model.encoder.layers.3.self_attn.q_proj.weight'))
    assert.ok(base.weights.tensors.has('visual_projection.weight'))
  })
})

describe('deterministic forward pass', () => {
  let tf: Tf
  before(async () => { tf = await loadTf('wasm') })

  it('gives the committed bits (golden hash of the probabilities)', () => {
    const det = new VitDet(base.weights)
    const module = seededModule('golden-forward')
    const { probabilities } = det.probabilities(det.embed(inputs, 8, module), 8, module.heads)
    const hash = createHash('sha256').update(new Uint8Array(probabilities.buffer)).digest('hex')
    assert.equal(hash, GOLDEN_FORWARD_SHA256, `probabilities ${Array.from(probabilities.slice(0, 4)).join(', ')}`)
    const loss = VitDet.crossEntropy(probabilities, 2, sample.labels)
    assert.equal(loss, GOLDEN_LOSS)
  })

  it('agrees with the TensorFlow.js graph on wasm and cpu to float32 precision', async () => {
    const det = new VitDet(base.weights)
    const module = seededModule('golden-forward')
    const expected = det.embed(inputs, 8, module)
    for (const backend of ['wasm', 'cpu'] as const) {
      const t = await loadTf(backend)
      const vit = createTfVit(t, base.weights)
      const lora = new Map([...module.layers].map(([k, p]) => [k, { A: t.tensor(p.A.data, [...p.A.shape]), B: t.tensor(p.B.data, [...p.B.shape]) }]))
      const got = vit.embed(t.tensor(inputs, [8, 3, 28, 28]), lora, 2).dataSync()
      let max = 0
      for (let i = 0; i < got.length; i++) max = Math.max(max, Math.abs(got[i]! - expected[i]!))
      assert.ok(max < 1e-4, `${backend}: max difference ${max}`)
      vit.dispose()
    }
    await loadTf('wasm')
    void tf
  })

  it('the gpu backend, when absent, is a clear error', async () => {
    await assert.rejects(loadTf('gpu'), (e: Error) => e instanceof BackendUnavailableError && /tfjs-node-gpu/.test(e.message))
  })
})

describe('pretraining', () => {
  it('the one-cycle rate warms up from 1/25 of its peak over 30% of the steps, then anneals to 1/250,000', () => {
    const near = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-12 * b
    assert.ok(near(oneCycleRate(1e-3, 0, 100), 1e-3 / 25))
    assert.ok(near(oneCycleRate(1e-3, 30, 100), 1e-3))
    assert.ok(near(oneCycleRate(1e-3, 100, 100), 1e-3 / 25 / 1e4))
    for (let s = 1; s <= 30; s++) assert.ok(oneCycleRate(1e-3, s, 100) > oneCycleRate(1e-3, s - 1, 100), `rising at ${s}`)
    for (let s = 31; s <= 100; s++) assert.ok(oneCycleRate(1e-3, s, 100) < oneCycleRate(1e-3, s - 1, 100), `falling at ${s}`)
  })

  it('AdamW learns fractal categories, and weight decay shrinks the weights', async () => {
    const tf = await loadTf('wasm')
    const small = { ...c, hidden: 16, layers: 1, heads: 2, intermediate: 32, projection: 16 }
    const run = async (weightDecay: number): Promise<{ accuracy: number[], norm: number }> => {
      const accuracy: number[] = []
      const w = await pretrainVit(tf, { config: small, data: { categories: 4, instances: 8, side: 28, points: 300, seed: 't' }, epochs: 20, batchSize: 8, learningRate: 3e-3, weightDecay, schedule: 'one-cycle', seed: 't', onEpoch: (_e, _l, acc) => accuracy.push(acc) })
      let norm = 0
      for (const t of w.tensors.values()) for (const v of t.data) norm += v * v
      return { accuracy, norm }
    }
    const plain = await run(0)
    assert.ok(plain.accuracy.at(-1)! >= 0.75, `train accuracy ${plain.accuracy.join(' ')} (chance 0.25)`)
    const decayed = await run(20)
    assert.ok(decayed.norm < 0.9 * plain.norm, `weight norm² ${decayed.norm} with decay against ${plain.norm} without`)
  })
})

describe('training, distillation and merging on small subsets', () => {
  let tf: Tf
  const modules: Array<{ module: LoraModule, context: VitContext, task: string }> = []
  before(async () => { tf = await loadTf('wasm') })

  it('trains a LoRA module and head with PEFT layer names', async () => {
    for (const task of ['pneumonia', 'breast']) {
      const train = subset(loadSplit(task, 'train'), Array.from({ length: 48 }, (_, i) => i))
      const val = subset(loadSplit(task, 'val'), Array.from({ length: 24 }, (_, i) => i))
      const epochs: number[] = []
      const r = await trainLora(tf, base, train, val, { classes: 2, rank: 4, alpha: 8, targets: ['q_proj', 'v_proj'], epochs: 1, batchSize: 16, seed: task, onEpoch: e => epochs.push(e.loss) })
      assert.equal(epochs.length, 1)
      assert.ok(Number.isFinite(epochs[0]))
      assert.deepEqual([...r.module.layers.keys()], loraLayers(c, ['q_proj', 'v_proj']).map(l => l.name))
      assert.equal([...r.module.layers.keys()][0], 'base_model.model.vision_model.encoder.layers.0.self_attn.q_proj')
      assert.equal(r.module.config.baseModel, `${VIT_ARCHITECTURE}@${base.cid}`)
      assert.deepEqual(r.module.heads.get(HEAD_WEIGHT)!.shape, [2, c.projection])
      assert.ok([...r.module.layers.values()].some(p => p.B.data.some(v => v !== 0)), 'B moved away from its zero initialisation')
      const d = await distill(tf, base, train, { task, classes: 2, imagesPerClass: 2, iterations: 10, seed: task })
      assert.deepEqual(d.set.inputs.shape, [4, 3, 28, 28])
      assert.deepEqual([...d.set.labels], [0, 0, 1, 1])
      modules.push({ module: r.module, context: { inputs: d.set.inputs.data, labels: d.set.labels }, task })
    }
  })

  it('keeps training through a stalled validation AUC by default, and stops after `patience` epochs when asked', async () => {
    const train = subset(loadSplit('pneumonia', 'train'), Array.from({ length: 32 }, (_, i) => i))
    const val = subset(loadSplit('pneumonia', 'val'), Array.from({ length: 16 }, (_, i) => i))
    // A zero learning rate: the validation AUC never improves after epoch 1.
    const run = async (patience?: number): Promise<{ epochs: number, best: number }> => {
      const r = await trainLora(tf, base, train, val, { classes: 2, rank: 4, alpha: 8, targets: ['q_proj', 'v_proj'], epochs: 6, batchSize: 32, learningRate: 0, seed: 'patience', ...(patience === undefined ? {} : { patience }) })
      return { epochs: r.history.length, best: r.bestEpoch }
    }
    assert.deepEqual(await run(), { epochs: 6, best: 1 })
    assert.deepEqual(await run(2), { epochs: 3, best: 1 })
  })

  it('differentially private distillation adds noise calibrated to (epsilon, delta)', async () => {
    const train = subset(loadSplit('breast', 'train'), Array.from({ length: 40 }, (_, i) => i))
    const a = await distill(tf, base, train, { task: 'breast', classes: 2, imagesPerClass: 1, iterations: 5, dp: { epsilon: 2, delta: 1e-5, noiseSeed: 'test' } })
    assert.equal(a.report.dp!.sigma, calibrateGaussianSigma(2, 1e-5, Math.SQRT2))
    assert.equal(a.report.dp!.sensitivity, Math.SQRT2)
    assert.notDeepEqual(a.report.dp!.noisyCounts, a.report.realCounts)
    const b = await distill(tf, base, train, { task: 'breast', classes: 2, imagesPerClass: 1, iterations: 5, dp: { epsilon: 2, delta: 1e-5 } })
    assert.notDeepEqual(b.report.dp!.noisyCounts, a.report.dp!.noisyCounts, 'without a seed the noise is fresh')
  })

  it('MedForge-Fusion and -Mixture run end to end on real modules, the same in any order', async () => {
    const evaluator = vitEvaluator(base)
    const merged: MergeInput<VitContext>[] = modules.map((m, i) => ({ module: m.module, height: i + 1, task: m.task, context: m.context }))
    for (const method of [{ name: 'medforge-fusion', budget: 6 }, { name: 'medforge-mixture', budget: 6 }] as const) {
      const forward = await mergeModules(merged, method, { evaluator })
      const backward = await mergeModules([...merged].reverse(), method, { evaluator })
      assert.equal(forward.stateRoot, backward.stateRoot)
      assert.equal(forward.steps!.length, 2)
      assert.ok(Number.isFinite(forward.steps![1]!.loss))
    }
  })
})

const GOLDEN_FORWARD_SHA256 = '39e362ecf0638ff959093d21266d8a2541a330443654b342c27b228068391f59'
// Both computed once on x86-64 and committed; any machine must reproduce them to the bit.
const GOLDEN_LOSS = 6.295379178222376
