// Distillation by distribution matching (Zhao & Bilen, WACV 2023, as MedForge uses it): synthetic
// images, initialised from noise, are optimised so that the per-class mean embedding of the frozen
// base model matches that of the real data. Embeddings are L2-normalised, so every image
// contributes a vector of norm exactly 1.
//
// Differentially private mode (beyond the reference): the real data is touched once, to compute
// per-class sums of the normalised embeddings and per-class counts. One person (one image, under
// add/remove adjacency) changes one class's sum by a vector of norm <= 1 and its count by 1, so the
// released vector has L2 sensitivity sqrt(2). Gaussian noise calibrated by the analytic Gaussian
// mechanism makes the release (ε, δ)-DP; fitting the synthetic images to the noisy means is
// post-processing and costs no further privacy. The noise comes from the OS's CSPRNG unless a
// seed is given (tests only: seeded noise is not private).
import { randomBytes } from 'node:crypto'
import type * as TF from '@tensorflow/tfjs'
import type { ImageSet } from '../data/medmnist.ts'
import type { DistilledSet, LoraModule } from '@medforge/merge-core'
import { Xoshiro128, loraScaling } from '@medforge/merge-core'
import { moduleToTensors } from './lora-train.ts'
import { calibrateGaussianSigma } from './dp-gaussian.ts'
import { toInputs } from './preprocess.ts'
import type { Tf } from './tf-backend.ts'
import { CLIP_MEAN, CLIP_STD } from './vit-config.ts'
import { createTfVit } from './vit-tf.ts'
import type { VitWeights } from './vit-weights.ts'

export interface DistillOptions {
  readonly task: string
  readonly classes: number
  readonly imagesPerClass?: number
  readonly iterations?: number
  readonly learningRate?: number
  readonly seed?: string
  readonly dp?: { readonly epsilon: number, readonly delta: number, readonly noiseSeed?: string }
  /**
   * Match in the feature space of the base with this adapter (the site's own module) instead of the
   * frozen base's: the synthetic set then shows what the adapter does (the reference's --lora).
   */
  readonly adapter?: LoraModule
  readonly onProgress?: (iteration: number, loss: number) => void
}

export interface DistillReport {
  readonly loss: number
  readonly realCounts: number[]
  readonly dp?: { readonly epsilon: number, readonly delta: number, readonly sensitivity: number, readonly sigma: number, readonly noisyCounts: number[] }
}


export async function distill (tf: Tf, base: { weights: VitWeights }, real: ImageSet, options: DistillOptions): Promise<{ set: DistilledSet, report: DistillReport }> {
  const c = base.weights.config
  const ipc = options.imagesPerClass ?? 10
  const classes = options.classes
  const vit = createTfVit(tf, base.weights)
  const lora = options.adapter === undefined ? undefined : moduleToTensors(tf, options.adapter).lora
  const scaling = options.adapter === undefined ? 1 : loraScaling(options.adapter.config)
  const per = c.channels * c.imageSize * c.imageSize
  const px = c.imageSize * c.imageSize
  const normalise = (e: TF.Tensor): TF.Tensor => tf.div(e, tf.add(tf.norm(e, 'euclidean', -1, true), 1e-12))
  try {
    // The one pass over the real data: per-class sums of normalised embeddings, and counts.
    const inputs = toInputs(real)
    const sums = Array.from({ length: classes }, () => new Float64Array(c.projection))
    const counts = new Array<number>(classes).fill(0)
    for (let i = 0; i < real.count; i += 256) {
      const m = Math.min(256, real.count - i)
      const e = tf.tidy(() => normalise(vit.embed(tf.tensor(inputs.subarray(i * per, (i + m) * per), [m, c.channels, c.imageSize, c.imageSize]), lora, scaling)))
      const data = e.dataSync()
      e.dispose()
      for (let k = 0; k < m; k++) {
        const label = real.labels[i + k]!
        counts[label]!++
        for (let j = 0; j < c.projection; j++) sums[label]![j] = sums[label]![j]! + data[k * c.projection + j]!
      }
    }
    let dpReport: DistillReport['dp']
    let releasedCounts = counts.slice()
    if (options.dp !== undefined) {
      const sensitivity = Math.SQRT2
      const sigma = calibrateGaussianSigma(options.dp.epsilon, options.dp.delta, sensitivity)
      const noise = options.dp.noiseSeed === undefined ? new Xoshiro128(randomBytes(32)) : Xoshiro128.fromString(options.dp.noiseSeed)
      for (let cl = 0; cl < classes; cl++) {
        for (let j = 0; j < c.projection; j++) sums[cl]![j] = sums[cl]![j]! + sigma * noise.normal()
        releasedCounts[cl] = counts[cl]! + sigma * noise.normal()
      }
      dpReport = { epsilon: options.dp.epsilon, delta: options.dp.delta, sensitivity, sigma, noisyCounts: releasedCounts.slice() }
    } else {
      releasedCounts = counts.slice()
    }
    const targets = tf.tensor(sums.flatMap((s, cl) => Array.from(s, v => v / Math.max(releasedCounts[cl]!, 1))), [classes, c.projection])

    // Synthetic images in [0, 1] through a sigmoid, initialised from seeded noise: grey (one
    // channel, replicated) for a grey task, three channels for a colour one, as the real images.
    const rng = Xoshiro128.fromString(`medforge-distill/v1|${options.seed ?? options.task}`)
    const n = ipc * classes
    const ch = real.channels === 3 ? 3 : 1
    const z = tf.variable(tf.tensor(Float32Array.from({ length: n * ch * px }, () => rng.normal() * 0.5), [n, ch, c.imageSize, c.imageSize]))
    const mean = tf.tensor(CLIP_MEAN.slice(), [1, 3, 1, 1])
    const std = tf.tensor(CLIP_STD.slice(), [1, 3, 1, 1])
    const toModel = (): TF.Tensor => tf.div(tf.sub(ch === 1 ? tf.tile(tf.sigmoid(z), [1, 3, 1, 1]) : tf.sigmoid(z), mean), std)
    const optimizer = tf.train.adam(options.learningRate ?? 0.05)
    let last = NaN
    const iterations = options.iterations ?? 200
    for (let it = 1; it <= iterations; it++) {
      const loss = optimizer.minimize(() => tf.tidy(() => {
        const e = tf.reshape(normalise(vit.embed(toModel(), lora, scaling)), [classes, ipc, c.projection])
        return tf.sum(tf.square(tf.sub(tf.mean(e, 1), targets))) as TF.Scalar
      }), true)!
      if (it % 10 === 0 || it === iterations) {
        last = (await loss.data())[0]!
        options.onProgress?.(it, last)
      }
      loss.dispose()
    }
    const finalInputs = tf.tidy(toModel)
    const data = finalInputs.dataSync().slice() as Float32Array
    finalInputs.dispose(); z.dispose(); mean.dispose(); std.dispose(); targets.dispose(); optimizer.dispose()
    const labels = Int32Array.from({ length: n }, (_, i) => Math.floor(i / ipc))
    return {
      set: { task: options.task, inputs: { shape: [n, c.channels, c.imageSize, c.imageSize], data }, labels },
      report: { loss: last, realCounts: counts, ...(dpReport === undefined ? {} : { dp: dpReport }) }
    }
  } finally {
    vit.dispose()
    for (const p of lora?.values() ?? []) { p.A.dispose(); p.B.dispose() }
  }
}
