// The input statistics a module ships for MedForge-RegMean: for each of its LoRA layers, the
// second moment of the layer's inputs (mean of xᵀx over every token of every image) on the site's
// own training data, through the base model with the module applied. Aggregates over thousands of
// tokens, like the distilled set they travel with; normalised to trace n, exactly symmetric.
import type { F32Tensor, LoraModule } from '@medforge/merge-core'
import { loraScaling } from '@medforge/merge-core'
import type { ImageSet } from '../data/image-set.ts'
import { moduleToTensors } from './lora-train.ts'
import { toInputs } from './preprocess.ts'
import type { Tf } from './tf-backend.ts'
import { PEFT_PREFIX } from './vit-config.ts'
import { createTfVit } from './vit-tf.ts'
import type { VitWeights } from './vit-weights.ts'

export function inputGrams (tf: Tf, weights: VitWeights, module: LoraModule, set: ImageSet, batch = 128): Map<string, F32Tensor> {
  const c = weights.config
  const vit = createTfVit(tf, weights)
  const { lora, head } = moduleToTensors(tf, module)
  const per = c.channels * c.imageSize * c.imageSize
  const inputs = toInputs(set)
  const sums = new Map<string, Float64Array>()
  try {
    for (let i = 0; i < set.count; i += batch) {
      const m = Math.min(batch, set.count - i)
      const taps: Array<[string, ReturnType<Tf['matMul']>]> = []
      tf.tidy(() => {
        const x = tf.tensor(inputs.subarray(i * per, (i + m) * per), [m, c.channels, c.imageSize, c.imageSize])
        vit.embed(x, lora, loraScaling(module.config), (layer, rows) => {
          if (module.layers.has(PEFT_PREFIX + layer)) taps.push([PEFT_PREFIX + layer, tf.keep(tf.matMul(rows, rows, true, false))])
        })
      })
      for (const [key, g] of taps) {
        const d = g.dataSync()
        g.dispose()
        const sum = sums.get(key) ?? new Float64Array(d.length)
        for (let k = 0; k < d.length; k++) sum[k] = sum[k]! + d[k]!
        sums.set(key, sum)
      }
    }
  } finally {
    vit.dispose()
    for (const p of lora.values()) { p.A.dispose(); p.B.dispose() }
    head?.W.dispose(); head?.b.dispose()
  }
  const out = new Map<string, F32Tensor>()
  for (const key of [...sums.keys()].sort()) {
    const s = sums.get(key)!
    const n = Math.round(Math.sqrt(s.length))
    let trace = 0
    for (let i = 0; i < n; i++) trace += s[i * n + i]!
    const data = new Float32Array(n * n)
    for (let i = 0; i < n; i++) {
      for (let j = 0; j <= i; j++) {
        const v = Math.fround((s[i * n + j]! + s[j * n + i]!) / 2 * n / trace)
        data[i * n + j] = v
        data[j * n + i] = v
      }
    }
    out.set(key, { shape: [n, n], data })
  }
  return out
}
