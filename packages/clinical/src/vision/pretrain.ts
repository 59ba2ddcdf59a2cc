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
  /** The peak learning rate (constant without `schedule`). */
  readonly learningRate?: number
  /** Decoupled weight decay (AdamW, Loshchilov & Hutter), applied to every parameter; 0 by default. */
  readonly weightDecay?: number
  /**
   * 'one-cycle': the rate rises from 1/25 of its peak over the first 30% of the steps and anneals to
   * 1/250,000 of it (cosine both ways, Smith's one-cycle policy as PyTorch's OneCycleLR).
   */
  readonly schedule?: 'constant' | 'one-cycle'
  readonly seed: string
  readonly onEpoch?: (epoch: number, loss: number, accuracy: number, ms: number) => void
}

/** The learning rate at `step` (0-based) of `total` (PyTorch OneCycleLR's defaults: 30% warm-up, cosine both ways). */
export function oneCycleRate (peak: number, step: number, total: number): number {
  const start = peak / 25
  const end = start / 1e4
  const warm = Math.max(1, Math.floor(0.3 * total))
  const cosine = (from: number, to: number, p: number): number => to + (from - to) * (1 + Math.cos(Math.PI * p)) / 2
  return step < warm ? cosine(start, peak, step / warm) : cosine(peak, end, (step - warm) / Math.max(1, total - warm))
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
  const peak = options.learningRate ?? 1e-3
  const decay = options.weightDecay ?? 0
  const variables = [...vit.params.values(), headW, headB] as TF.Variable[]
  // Adam with decoupled weight decay, written out: tfjs's Adam has no weight decay, and its
  // learning rate cannot be changed per step through its public interface.
  const moments = variables.map(v => ({ m: tf.variable(tf.zerosLike(v)), v: tf.variable(tf.zerosLike(v)) }))
  const [beta1, beta2, eps] = [0.9, 0.999, 1e-8]
  let step = 0
  const per = c.channels * c.imageSize * c.imageSize
  const batchSize = options.batchSize ?? 64
  const order = Array.from({ length: data.count }, (_, i) => i)
  const total = options.epochs * Math.ceil(data.count / batchSize)
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
        const rate = options.schedule === 'one-cycle' ? oneCycleRate(peak, step, total) : peak
        step++
        const { value: loss, grads } = tf.variableGrads(() => tf.tidy(() => {
          const logits = headLogits(tf, vit.embed(tf.tensor(bx.subarray(0, m * per), [m, c.channels, c.imageSize, c.imageSize])), headW, headB)
          predicted = tf.argMax(logits, 1).dataSync() as Int32Array
          return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(by.subarray(0, m), 'int32'), classes), logits) as TF.Scalar
        }), variables)
        const c1 = 1 - beta1 ** step
        const c2 = 1 - beta2 ** step
        tf.tidy(() => {
          variables.forEach((p, k) => {
            const g = grads[p.name]!
            const mo = moments[k]!
            mo.m.assign(mo.m.mul(beta1).add(g.mul(1 - beta1)))
            mo.v.assign(mo.v.mul(beta2).add(g.square().mul(1 - beta2)))
            const update = mo.m.div(c1).div(mo.v.div(c2).sqrt().add(eps))
            p.assign((decay > 0 ? p.mul(1 - rate * decay) : p).sub(update.mul(rate)))
          })
        })
        for (const g of Object.values(grads)) g.dispose()
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
    headW.dispose(); headB.dispose(); vit.dispose()
    for (const mo of moments) { mo.m.dispose(); mo.v.dispose() }
  }
}
