// Pretrains the whole base model on FractalDB categories (no institution data at all), so every
// network starts from the same frozen backbone, reproducible from a seed.
import type * as TF from '@tensorflow/tfjs'
import { Xoshiro128 } from '@medforge/merge-core'
import type { F32Tensor } from '@medforge/merge-core'
import { generateFractalDb } from './fractal-db.ts'
import type { FractalSpec } from './fractal-db.ts'
import { grayToInputs } from './preprocess.ts'
import type { Tf } from './tf-backend.ts'
import type { VitConfig } from './vit-config.ts'
import { createTfVit, headLogits } from './vit-tf.ts'
import { initVitWeights } from './vit-weights.ts'
import type { VitWeights } from './vit-weights.ts'

export interface PretrainOptions {
  readonly config: VitConfig
  readonly data: FractalSpec
  readonly epochs: number
  readonly batchSize?: number
  readonly learningRate?: number
  readonly seed: string
  readonly onEpoch?: (epoch: number, loss: number, accuracy: number, ms: number) => void
}

export async function pretrainVit (tf: Tf, options: PretrainOptions): Promise<VitWeights> {
  const c = options.config
  const data = generateFractalDb(options.data)
  const inputs = grayToInputs(data.images, data.count, data.side * data.side)
  const init = initVitWeights(c, options.seed)
  const vit = createTfVit(tf, init, { trainable: true })
  const rng = Xoshiro128.fromString(`medforge-pretrain/v1|${options.seed}`)
  const classes = options.data.categories
  const headW = tf.variable(tf.randomNormal([classes, c.projection], 0, 1 / Math.sqrt(c.projection), 'float32', 7))
  const headB = tf.variable(tf.zeros([classes]))
  const optimizer = tf.train.adam(options.learningRate ?? 1e-3)
  const per = c.channels * c.imageSize * c.imageSize
  const batchSize = options.batchSize ?? 64
  const order = Array.from({ length: data.count }, (_, i) => i)
  const bx = new Float32Array(batchSize * per)
  const by = new Int32Array(batchSize)
  try {
    for (let epoch = 1; epoch <= options.epochs; epoch++) {
      const t0 = performance.now()
      for (let i = order.length - 1; i > 0; i--) { const j = rng.nextU32() % (i + 1); const t = order[i]!; order[i] = order[j]!; order[j] = t }
      let lossSum = 0
      let correct = 0
      let batches = 0
      for (let s = 0; s < order.length; s += batchSize) {
        const m = Math.min(batchSize, order.length - s)
        for (let k = 0; k < m; k++) { const idx = order[s + k]!; bx.set(inputs.subarray(idx * per, (idx + 1) * per), k * per); by[k] = data.labels[idx]! }
        let predicted: Int32Array | undefined
        const loss = optimizer.minimize(() => tf.tidy(() => {
          const logits = headLogits(tf, vit.embed(tf.tensor(bx.subarray(0, m * per), [m, c.channels, c.imageSize, c.imageSize])), headW, headB)
          predicted = tf.argMax(logits, 1).dataSync() as Int32Array
          return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(by.subarray(0, m), 'int32'), classes), logits) as TF.Scalar
        }), true)!
        lossSum += (await loss.data())[0]!
        loss.dispose()
        for (let k = 0; k < m; k++) if (predicted![k] === by[k]) correct++
        batches++
      }
      options.onEpoch?.(epoch, lossSum / batches, correct / data.count, performance.now() - t0)
    }
    const tensors = new Map<string, F32Tensor>()
    for (const [name, t] of init.tensors) tensors.set(name, { shape: t.shape, data: vit.params.get(name)!.dataSync().slice() as Float32Array })
    return { config: c, tensors }
  } finally {
    headW.dispose(); headB.dispose(); optimizer.dispose(); vit.dispose()
  }
}
