// The vision transformer as a TensorFlow.js graph, for training (gradients), distillation and fast
// evaluation. LoRA runs unmerged (x·Aᵀ·Bᵀ·s added to the frozen projection) so gradients reach A
// and B; vit-det.ts computes the same function for consensus.
import type * as TF from '@tensorflow/tfjs'
import type { Tf } from './tf-backend.ts'
import { PEFT_PREFIX, layerPrefix, patchCount } from './vit-config.ts'
import type { VitConfig } from './vit-config.ts'
import type { VitWeights } from './vit-weights.ts'

export type Tensor = TF.Tensor
export interface LoraTensors { readonly A: TF.Tensor, readonly B: TF.Tensor }

export type LinearTap = (layer: string, input: TF.Tensor) => void

export interface TfVit {
  readonly tf: Tf
  readonly config: VitConfig
  /** Base parameters by HF name (trainable variables when pretraining, constants otherwise). */
  readonly params: ReadonlyMap<string, TF.Tensor>
  /**
   * Image embeddings [n, projection] for inputs [n, channels, size, size]. `tap` sees each linear
   * layer's input rows [rows, in] under the layer's HF name (for input statistics).
   */
  embed (x: TF.Tensor, lora?: ReadonlyMap<string, LoraTensors>, scaling?: number, tap?: LinearTap): TF.Tensor
  dispose (): void
}

export function createTfVit (tf: Tf, weights: VitWeights, options: { trainable?: boolean } = {}): TfVit {
  const c = weights.config
  const params = new Map<string, TF.Tensor>()
  for (const [name, t] of weights.tensors) {
    const tensor = tf.tensor(t.data, [...t.shape], 'float32')
    params.set(name, options.trainable === true ? tf.variable(tensor, true, name) : tensor)
  }
  const p = (name: string): TF.Tensor => {
    const t = params.get(name)
    if (t === undefined) throw new Error(`base weights lack ${name}`)
    return t
  }
  const h = c.hidden
  const T = patchCount(c) + 1
  const grid = c.imageSize / c.patchSize
  const K = c.channels * c.patchSize * c.patchSize

  const layerNorm = (x: TF.Tensor, w: TF.Tensor, b: TF.Tensor): TF.Tensor => {
    const { mean, variance } = tf.moments(x, -1, true)
    return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, c.layerNormEps))), w), b)
  }
  /** x [rows, in] → [rows, out] with W [out, in], optional bias and LoRA. */
  let tap: LinearTap | undefined
  const linear = (x: TF.Tensor, base: string, bias: boolean, lora: ReadonlyMap<string, LoraTensors> | undefined, s: number): TF.Tensor => {
    tap?.(base, x)
    let y = tf.matMul(x, p(`${base}.weight`), false, true)
    if (bias) y = tf.add(y, p(`${base}.bias`))
    const pair = lora?.get(`${PEFT_PREFIX}${base}`)
    if (pair !== undefined) y = tf.add(y, tf.mul(tf.matMul(tf.matMul(x, pair.A, false, true), pair.B, false, true), s))
    return y
  }

  return {
    tf,
    config: c,
    params,
    embed (x, lora, scaling = 1, layerTap) {
      tap = layerTap
      const n = x.shape[0]!
      const patches = tf.reshape(tf.transpose(tf.reshape(x, [n, c.channels, grid, c.patchSize, grid, c.patchSize]), [0, 2, 4, 1, 3, 5]), [n * (T - 1), K])
      const patchEmb = tf.reshape(tf.matMul(patches, tf.reshape(p('vision_model.embeddings.patch_embedding.weight'), [h, K]), false, true), [n, T - 1, h])
      const cls = tf.tile(tf.reshape(p('vision_model.embeddings.class_embedding'), [1, 1, h]), [n, 1, 1])
      let xs = tf.add(tf.concat([cls, patchEmb], 1), p('vision_model.embeddings.position_embedding.weight'))
      xs = layerNorm(xs, p('vision_model.pre_layrnorm.weight'), p('vision_model.pre_layrnorm.bias'))
      const H = c.heads
      const d = h / H
      for (let i = 0; i < c.layers; i++) {
        const pre = layerPrefix(i)
        const flat = tf.reshape(layerNorm(xs, p(`${pre}.layer_norm1.weight`), p(`${pre}.layer_norm1.bias`)), [n * T, h])
        const heads = (t: TF.Tensor): TF.Tensor => tf.transpose(tf.reshape(t, [n, T, H, d]), [0, 2, 1, 3])
        const q = heads(linear(flat, `${pre}.self_attn.q_proj`, true, lora, scaling))
        const k = heads(linear(flat, `${pre}.self_attn.k_proj`, true, lora, scaling))
        const v = heads(linear(flat, `${pre}.self_attn.v_proj`, true, lora, scaling))
        const att = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(d)))
        const ctx = tf.reshape(tf.transpose(tf.matMul(att, v), [0, 2, 1, 3]), [n * T, h])
        xs = tf.add(xs, tf.reshape(linear(ctx, `${pre}.self_attn.out_proj`, true, lora, scaling), [n, T, h]))
        const hid = tf.reshape(layerNorm(xs, p(`${pre}.layer_norm2.weight`), p(`${pre}.layer_norm2.bias`)), [n * T, h])
        const f1 = linear(hid, `${pre}.mlp.fc1`, true, lora, scaling)
        const act = tf.mul(f1, tf.sigmoid(tf.mul(f1, 1.702)))
        xs = tf.add(xs, tf.reshape(linear(act, `${pre}.mlp.fc2`, true, lora, scaling), [n, T, h]))
      }
      const pooled = layerNorm(tf.reshape(tf.slice(xs, [0, 0, 0], [n, 1, h]), [n, h]), p('vision_model.post_layernorm.weight'), p('vision_model.post_layernorm.bias'))
      return linear(pooled, 'visual_projection', false, lora, scaling)
    },
    dispose () {
      for (const t of params.values()) t.dispose()
    }
  }
}

/** Logits [n, classes] of a linear head on embeddings. */
export function headLogits (tf: Tf, embeds: TF.Tensor, W: TF.Tensor, b: TF.Tensor): TF.Tensor {
  return tf.add(tf.matMul(embeds, W, false, true), b)
}
