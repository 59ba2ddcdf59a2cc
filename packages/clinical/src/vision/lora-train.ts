// What an institution does with its private shard: train a LoRA module (q_proj, v_proj, optionally
// visual_projection) and a task head on the frozen base model, with per-epoch validation metrics
// and early stopping on validation AUC. Only the adapter and head leave this function.
import type * as TF from '@tensorflow/tfjs'
import type { ImageSet } from '../data/medmnist.ts'
import { newLoraConfig } from '@medforge/merge-core'
import type { LoraModule, LoraPair } from '@medforge/merge-core'
import { Xoshiro128 } from '@medforge/merge-core'
import type { F32Tensor } from '@medforge/merge-core'
import { classificationMetrics } from './metrics.ts'
import type { ClassificationMetrics } from './metrics.ts'
import { toInputs } from './preprocess.ts'
import type { Tf } from './tf-backend.ts'
import { HEAD_BIAS, HEAD_WEIGHT, VIT_ARCHITECTURE, loraLayers } from './vit-config.ts'
import { createTfVit, headLogits } from './vit-tf.ts'
import type { LoraTensors, TfVit } from './vit-tf.ts'
import type { VitWeights } from './vit-weights.ts'

export interface TrainOptions {
  readonly classes: number
  readonly rank: number
  readonly alpha: number
  readonly targets: readonly string[]
  readonly epochs?: number
  readonly batchSize?: number
  readonly learningRate?: number
  /**
   * Epochs without a better validation AUC before stopping. The default, 10, rarely stops: a site's
   * validation shard is small (78 breast images, ~260 pneumonia) and its AUC noisy, and every early
   * stop measured with patience 3 kept an early peak of that noise (test AUC 0.889 at epoch 1 against
   * 0.927 at epoch 9 trained on; BENCHMARKS.md "Early stopping after 3 epochs kept noise").
   */
  readonly patience?: number
  readonly seed?: string
  /**
   * 'probe' (the default) fits the head on the frozen base first (a linear probe) and keeps it
   * fixed, so the adapter moves features into a geometry anchored on the base, the one every
   * other module also perturbs; 'joint' trains the head with the adapter, so it co-adapts with its
   * own update and breaks when another task's update is added (issue 13: base + own head alone
   * fell to 0.67 AUC with 'joint', 0.82 with 'probe'; composites gained 0.03-0.10 AUC).
   */
  readonly head?: 'joint' | 'probe'
  readonly onEpoch?: (e: EpochReport) => void
  readonly onBatch?: (done: number, total: number) => void
}

export interface EpochReport { readonly epoch: number, readonly loss: number, readonly val: ClassificationMetrics, readonly best: boolean, readonly ms: number }

export interface TrainResult { readonly module: LoraModule, readonly history: readonly EpochReport[], readonly bestEpoch: number, readonly samples: number }

function uniformFill (n: number, bound: number, rng: Xoshiro128): Float32Array {
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) out[i] = (rng.uniform() * 2 - 1) * bound
  return out
}

/** Probabilities [n, classes] in batches, with optional LoRA and a head. */
export function predictTf (vit: TfVit, inputs: Float32Array, n: number, head: { W: TF.Tensor, b: TF.Tensor }, lora?: ReadonlyMap<string, LoraTensors>, scaling = 1, batch = 256): Float32Array {
  const { tf, config: c } = vit
  const per = c.channels * c.imageSize * c.imageSize
  const classes = head.b.shape[0]!
  const out = new Float32Array(n * classes)
  for (let i = 0; i < n; i += batch) {
    const m = Math.min(batch, n - i)
    const probs = tf.tidy(() => tf.softmax(headLogits(tf, vit.embed(tf.tensor(inputs.subarray(i * per, (i + m) * per), [m, c.channels, c.imageSize, c.imageSize]), lora, scaling), head.W, head.b)))
    out.set(probs.dataSync() as Float32Array, i * classes)
    probs.dispose()
  }
  return out
}

export function moduleToTensors (tf: Tf, module: LoraModule): { lora: Map<string, LoraTensors>, head: { W: TF.Tensor, b: TF.Tensor } | undefined } {
  const lora = new Map<string, LoraTensors>()
  for (const [name, { A, B }] of module.layers) lora.set(name, { A: tf.tensor(A.data, [...A.shape]), B: tf.tensor(B.data, [...B.shape]) })
  return { lora, head: headToTensors(tf, module.heads) }
}

/** A classifier head's weight and bias as tensors; undefined when the map holds no classifier. */
export function headToTensors (tf: Tf, heads: ReadonlyMap<string, F32Tensor>): { W: TF.Tensor, b: TF.Tensor } | undefined {
  const W = heads.get(HEAD_WEIGHT)
  const b = heads.get(HEAD_BIAS)
  return W === undefined || b === undefined ? undefined : { W: tf.tensor(W.data, [...W.shape]), b: tf.tensor(b.data, [...b.shape]) }
}

/** A linear probe on the frozen base's embeddings: full-batch Adam on the cross-entropy, written into W and b. */
async function fitProbe (vit: TfVit, inputs: Float32Array, labels: Int32Array, classes: number, head: { W: TF.Variable, b: TF.Variable }, steps = 300): Promise<void> {
  const { tf, config: c } = vit
  const per = c.channels * c.imageSize * c.imageSize
  const n = labels.length
  const parts: TF.Tensor[] = []
  for (let i = 0; i < n; i += 256) {
    const m = Math.min(256, n - i)
    parts.push(tf.tidy(() => vit.embed(tf.tensor(inputs.subarray(i * per, (i + m) * per), [m, c.channels, c.imageSize, c.imageSize]))))
  }
  const features = tf.concat(parts)
  for (const t of parts) t.dispose()
  const y = tf.oneHot(tf.tensor1d(labels, 'int32'), classes)
  const W = tf.variable(head.W.clone())
  const b = tf.variable(head.b.clone())
  const optimizer = tf.train.adam(0.02)
  try {
    for (let s = 0; s < steps; s++) {
      optimizer.minimize(() => tf.tidy(() => tf.add(tf.losses.softmaxCrossEntropy(y, headLogits(tf, features, W, b)), tf.mul(1e-3, tf.sum(tf.square(W)))) as TF.Scalar), false, [W, b])
    }
    head.W.assign(W)
    head.b.assign(b)
  } finally {
    features.dispose(); y.dispose(); W.dispose(); b.dispose(); optimizer.dispose()
  }
  await Promise.resolve()
}

export async function trainLora (tf: Tf, base: { weights: VitWeights, cid: string }, train: ImageSet, val: ImageSet, options: TrainOptions): Promise<TrainResult> {
  const c = base.weights.config
  const rng = Xoshiro128.fromString(`medforge-lora-train/v1|${options.seed ?? 'default'}`)
  const vit = createTfVit(tf, base.weights)
  const layers = loraLayers(c, options.targets)
  const scaling = options.alpha / options.rank
  const vars = new Map<string, { A: TF.Variable, B: TF.Variable }>()
  for (const l of layers) {
    // PEFT's initialisation: A kaiming-uniform (bound 1/sqrt(in)), B zero, so training starts at the base model.
    vars.set(l.name, {
      A: tf.variable(tf.tensor(uniformFill(options.rank * l.inFeatures, 1 / Math.sqrt(l.inFeatures), rng), [options.rank, l.inFeatures])),
      B: tf.variable(tf.zeros([l.outFeatures, options.rank]))
    })
  }
  const trainable = options.head === 'joint'
  const headW = tf.variable(tf.tensor(uniformFill(options.classes * c.projection, 1 / Math.sqrt(c.projection), rng), [options.classes, c.projection]), trainable)
  const headB = tf.variable(tf.zeros([options.classes]), trainable)
  const optimizer = tf.train.adam(options.learningRate ?? 2e-3)
  const trainX = toInputs(train)
  const valX = toInputs(val)
  if (!trainable) await fitProbe(vit, trainX, train.labels, options.classes, { W: headW, b: headB })
  const per = c.channels * c.imageSize * c.imageSize
  const batchSize = options.batchSize ?? 64
  const epochs = options.epochs ?? 12
  const patience = options.patience ?? 10
  const history: EpochReport[] = []
  let best: { auc: number, epoch: number, A: Map<string, [Float32Array, Float32Array]>, W: Float32Array, b: Float32Array } | undefined
  const snapshot = (): { A: Map<string, [Float32Array, Float32Array]>, W: Float32Array, b: Float32Array } => ({
    A: new Map([...vars].map(([k, v]) => [k, [v.A.dataSync().slice() as Float32Array, v.B.dataSync().slice() as Float32Array]])),
    W: headW.dataSync().slice() as Float32Array,
    b: headB.dataSync().slice() as Float32Array
  })
  const order = Array.from({ length: train.count }, (_, i) => i)
  const batchX = new Float32Array(batchSize * per)
  const batchY = new Int32Array(batchSize)
  try {
    for (let epoch = 1; epoch <= epochs; epoch++) {
      const t0 = performance.now()
      for (let i = order.length - 1; i > 0; i--) { const j = rng.nextU32() % (i + 1); const t = order[i]!; order[i] = order[j]!; order[j] = t }
      let lossSum = 0
      let batches = 0
      for (let start = 0; start < order.length; start += batchSize) {
        const m = Math.min(batchSize, order.length - start)
        for (let k = 0; k < m; k++) {
          const idx = order[start + k]!
          batchX.set(trainX.subarray(idx * per, (idx + 1) * per), k * per)
          batchY[k] = train.labels[idx]!
        }
        const loss = optimizer.minimize(() => tf.tidy(() => {
          const x = tf.tensor(batchX.subarray(0, m * per), [m, c.channels, c.imageSize, c.imageSize])
          const y = tf.oneHot(tf.tensor1d(batchY.subarray(0, m), 'int32'), options.classes)
          const logits = headLogits(tf, vit.embed(x, vars, scaling), headW, headB)
          return tf.losses.softmaxCrossEntropy(y, logits) as TF.Scalar
        }), true)!
        lossSum += (await loss.data())[0]!
        loss.dispose()
        batches++
        options.onBatch?.(Math.min(start + m, order.length), order.length)
      }
      const probs = predictTf(vit, valX, val.count, { W: headW, b: headB }, vars, scaling)
      const metrics = classificationMetrics(probs, options.classes, val.labels)
      const score = Number.isNaN(metrics.auc) ? metrics.accuracy : metrics.auc
      const improved = best === undefined || score > best.auc
      if (improved) best = { auc: score, epoch, ...snapshot() }
      const report = { epoch, loss: lossSum / batches, val: metrics, best: improved, ms: performance.now() - t0 }
      history.push(report)
      options.onEpoch?.(report)
      if (epoch - best!.epoch >= patience) break
    }
  } finally {
    for (const v of vars.values()) { v.A.dispose(); v.B.dispose() }
    headW.dispose(); headB.dispose(); optimizer.dispose(); vit.dispose()
  }
  const layersOut = new Map<string, LoraPair>()
  for (const l of layers) {
    const [A, B] = best!.A.get(l.name)!
    layersOut.set(l.name, { A: { shape: [options.rank, l.inFeatures], data: A }, B: { shape: [l.outFeatures, options.rank], data: B } })
  }
  const heads = new Map<string, F32Tensor>([[HEAD_BIAS, { shape: [options.classes], data: best!.b }], [HEAD_WEIGHT, { shape: [options.classes, c.projection], data: best!.W }]])
  const config = newLoraConfig({ baseModel: `${VIT_ARCHITECTURE}@${base.cid}`, r: options.rank, loraAlpha: options.alpha, targetModules: [...options.targets], modulesToSave: ['classifier'] })
  return { module: { config, layers: layersOut, heads }, history, bestEpoch: best!.epoch, samples: train.count }
}
