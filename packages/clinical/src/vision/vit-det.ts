// The consensus forward pass: the vision transformer in plain JavaScript, binary64 arithmetic in a
// fixed order, exp/log from det-math and sqrt (correctly rounded by IEEE 754). The same weights and
// inputs give the same bits on every machine and engine, which no TensorFlow.js backend promises;
// the loss inside the Fusion/Mixture coefficient search is computed here.
import { detExp, detLog } from '@medforge/merge-core'
import { loraScaling } from '@medforge/merge-core'
import type { LoraModule } from '@medforge/merge-core'
import type { F32Tensor } from '@medforge/merge-core'
import { HEAD_BIAS, HEAD_WEIGHT, PEFT_PREFIX, layerPrefix, patchCount } from './vit-config.ts'
import type { VitConfig } from './vit-config.ts'
import type { VitWeights } from './vit-weights.ts'

type Mat = Float64Array

interface Layer {
  q: Mat, qb: Mat, k: Mat, kb: Mat, v: Mat, vb: Mat, o: Mat, ob: Mat
  ln1w: Mat, ln1b: Mat, ln2w: Mat, ln2b: Mat
  fc1: Mat, fc1b: Mat, fc2: Mat, fc2b: Mat
}

const f64 = (t: F32Tensor | undefined, name: string): Mat => {
  if (t === undefined) throw new Error(`base weights lack ${name}`)
  return Float64Array.from(t.data)
}

/** W + s·B·A, summed over the rank in order, in binary64. */
function adapted (w: Mat, module: LoraModule | undefined, name: string, rows: number, cols: number): Mat {
  const pair = module?.layers.get(`${PEFT_PREFIX}${name}`)
  if (pair === undefined) return w
  const r = pair.A.shape[0]!
  const s = loraScaling(module!.config)
  const out = Float64Array.from(w)
  const A = pair.A.data
  const B = pair.B.data
  for (let o = 0; o < rows; o++) {
    for (let i = 0; i < cols; i++) {
      let acc = 0
      for (let k = 0; k < r; k++) acc += B[o * r + k]! * A[k * cols + i]!
      out[o * cols + i] = out[o * cols + i]! + s * acc
    }
  }
  return out
}

function layerNorm (x: Mat, off: number, n: number, w: Mat, b: Mat, eps: number, out: Mat, outOff: number): void {
  let mean = 0
  for (let i = 0; i < n; i++) mean += x[off + i]!
  mean /= n
  let v = 0
  for (let i = 0; i < n; i++) { const d = x[off + i]! - mean; v += d * d }
  const inv = 1 / Math.sqrt(v / n + eps)
  for (let i = 0; i < n; i++) out[outOff + i] = (x[off + i]! - mean) * inv * w[i]! + b[i]!
}

/** out[outOff + o] = b[o] + Σ_i W[o, i] x[off + i] */
function linear (W: Mat, b: Mat | undefined, x: Mat, off: number, inF: number, outF: number, out: Mat, outOff: number): void {
  for (let o = 0; o < outF; o++) {
    let acc = b === undefined ? 0 : b[o]!
    const row = o * inF
    for (let i = 0; i < inF; i++) acc += W[row + i]! * x[off + i]!
    out[outOff + o] = acc
  }
}

export class VitDet {
  readonly config: VitConfig
  readonly #w: ReadonlyMap<string, F32Tensor>
  readonly #patch: Mat
  readonly #cls: Mat
  readonly #pos: Mat
  readonly #preW: Mat
  readonly #preB: Mat
  readonly #layers: Layer[]
  readonly #postW: Mat
  readonly #postB: Mat
  readonly #proj: Mat
  readonly #embedCache = new WeakMap<Float32Array, Mat>()

  constructor (weights: VitWeights) {
    this.config = weights.config
    this.#w = weights.tensors
    const t = (n: string): Mat => f64(this.#w.get(n), n)
    this.#patch = t('vision_model.embeddings.patch_embedding.weight')
    this.#cls = t('vision_model.embeddings.class_embedding')
    this.#pos = t('vision_model.embeddings.position_embedding.weight')
    this.#preW = t('vision_model.pre_layrnorm.weight')
    this.#preB = t('vision_model.pre_layrnorm.bias')
    this.#layers = Array.from({ length: this.config.layers }, (_, i) => {
      const p = layerPrefix(i)
      return {
        q: t(`${p}.self_attn.q_proj.weight`), qb: t(`${p}.self_attn.q_proj.bias`),
        k: t(`${p}.self_attn.k_proj.weight`), kb: t(`${p}.self_attn.k_proj.bias`),
        v: t(`${p}.self_attn.v_proj.weight`), vb: t(`${p}.self_attn.v_proj.bias`),
        o: t(`${p}.self_attn.out_proj.weight`), ob: t(`${p}.self_attn.out_proj.bias`),
        ln1w: t(`${p}.layer_norm1.weight`), ln1b: t(`${p}.layer_norm1.bias`),
        ln2w: t(`${p}.layer_norm2.weight`), ln2b: t(`${p}.layer_norm2.bias`),
        fc1: t(`${p}.mlp.fc1.weight`), fc1b: t(`${p}.mlp.fc1.bias`),
        fc2: t(`${p}.mlp.fc2.weight`), fc2b: t(`${p}.mlp.fc2.bias`)
      }
    })
    this.#postW = t('vision_model.post_layernorm.weight')
    this.#postB = t('vision_model.post_layernorm.bias')
    this.#proj = t('visual_projection.weight')
  }

  /** Token embeddings after pre_layrnorm ([n, tokens, hidden]); independent of any LoRA, so cached per input array. */
  #tokens (inputs: Float32Array, n: number): Mat {
    const hit = this.#embedCache.get(inputs)
    if (hit !== undefined) return hit
    const c = this.config
    const h = c.hidden
    const grid = c.imageSize / c.patchSize
    const T = patchCount(c) + 1
    const K = c.channels * c.patchSize * c.patchSize
    const out = new Float64Array(n * T * h)
    const patch = new Float64Array(K)
    const raw = new Float64Array(T * h)
    const img = c.channels * c.imageSize * c.imageSize
    for (let s = 0; s < n; s++) {
      for (let i = 0; i < h; i++) raw[i] = this.#cls[i]! + this.#pos[i]!
      for (let gy = 0; gy < grid; gy++) {
        for (let gx = 0; gx < grid; gx++) {
          let k = 0
          for (let ch = 0; ch < c.channels; ch++) {
            for (let ky = 0; ky < c.patchSize; ky++) {
              for (let kx = 0; kx < c.patchSize; kx++) {
                patch[k++] = inputs[s * img + ch * c.imageSize * c.imageSize + (gy * c.patchSize + ky) * c.imageSize + gx * c.patchSize + kx]!
              }
            }
          }
          const tok = 1 + gy * grid + gx
          linear(this.#patch, undefined, patch, 0, K, h, raw, tok * h)
          for (let i = 0; i < h; i++) raw[tok * h + i] = raw[tok * h + i]! + this.#pos[tok * h + i]!
        }
      }
      for (let tok = 0; tok < T; tok++) layerNorm(raw, tok * h, h, this.#preW, this.#preB, c.layerNormEps, out, (s * T + tok) * h)
    }
    this.#embedCache.set(inputs, out)
    return out
  }

  /** Image embeddings ([n, projection]) of `inputs` ([n, channels, size, size]) with `module` applied. */
  embed (inputs: Float32Array, n: number, module?: LoraModule): Float64Array {
    const c = this.config
    const h = c.hidden
    const T = patchCount(c) + 1
    const H = c.heads
    const d = h / H
    const scale = 1 / Math.sqrt(d)
    const layers = this.#layers.map((L, i) => ({
      ...L,
      q: adapted(L.q, module, `${layerPrefix(i)}.self_attn.q_proj`, h, h),
      v: adapted(L.v, module, `${layerPrefix(i)}.self_attn.v_proj`, h, h)
    }))
    const proj = adapted(this.#proj, module, 'visual_projection', c.projection, h)
    const tokens = this.#tokens(inputs, n)
    const out = new Float64Array(n * c.projection)
    const x = new Float64Array(T * h)
    const ln = new Float64Array(T * h)
    const q = new Float64Array(T * h)
    const k = new Float64Array(T * h)
    const v = new Float64Array(T * h)
    const ctx = new Float64Array(T * h)
    const att = new Float64Array(T)
    const tmp = new Float64Array(h)
    const mlp = new Float64Array(c.intermediate)
    for (let s = 0; s < n; s++) {
      x.set(tokens.subarray(s * T * h, (s + 1) * T * h))
      for (let li = 0; li < layers.length; li++) {
        const L = layers[li]!
        // The last layer only needs the class token's output.
        const rows = li === layers.length - 1 ? 1 : T
        for (let t = 0; t < T; t++) layerNorm(x, t * h, h, L.ln1w, L.ln1b, c.layerNormEps, ln, t * h)
        for (let t = 0; t < T; t++) {
          if (t < rows) linear(L.q, L.qb, ln, t * h, h, h, q, t * h)
          linear(L.k, L.kb, ln, t * h, h, h, k, t * h)
          linear(L.v, L.vb, ln, t * h, h, h, v, t * h)
        }
        for (let t = 0; t < rows; t++) {
          for (let head = 0; head < H; head++) {
            const off = head * d
            let max = -Infinity
            for (let u = 0; u < T; u++) {
              let acc = 0
              for (let j = 0; j < d; j++) acc += q[t * h + off + j]! * k[u * h + off + j]!
              att[u] = acc * scale
              if (att[u]! > max) max = att[u]!
            }
            let sum = 0
            for (let u = 0; u < T; u++) { att[u] = detExp(att[u]! - max); sum += att[u]! }
            for (let j = 0; j < d; j++) {
              let acc = 0
              for (let u = 0; u < T; u++) acc += att[u]! * v[u * h + off + j]!
              ctx[t * h + off + j] = acc / sum
            }
          }
          linear(L.o, L.ob, ctx, t * h, h, h, tmp, 0)
          for (let i = 0; i < h; i++) x[t * h + i] = x[t * h + i]! + tmp[i]!
          layerNorm(x, t * h, h, L.ln2w, L.ln2b, c.layerNormEps, ln, t * h)
          linear(L.fc1, L.fc1b, ln, t * h, h, c.intermediate, mlp, 0)
          for (let i = 0; i < c.intermediate; i++) { const z = mlp[i]!; mlp[i] = z / (1 + detExp(-1.702 * z)) } // quick_gelu
          linear(L.fc2, L.fc2b, mlp, 0, c.intermediate, h, tmp, 0)
          for (let i = 0; i < h; i++) x[t * h + i] = x[t * h + i]! + tmp[i]!
        }
      }
      layerNorm(x, 0, h, this.#postW, this.#postB, c.layerNormEps, ln, 0)
      linear(proj, undefined, ln, 0, h, c.projection, out, s * c.projection)
    }
    return out
  }

  /** Class probabilities [n, classes] from embeddings and a task head. */
  probabilities (embeds: Float64Array, n: number, head: ReadonlyMap<string, F32Tensor>): { probabilities: Float64Array, classes: number } {
    const W = head.get(HEAD_WEIGHT)
    const b = head.get(HEAD_BIAS)
    if (W === undefined || b === undefined) throw new Error(`the task head needs ${HEAD_WEIGHT} and ${HEAD_BIAS}`)
    const classes = b.shape[0]!
    const p = this.config.projection
    const out = new Float64Array(n * classes)
    const logits = new Float64Array(classes)
    for (let s = 0; s < n; s++) {
      let max = -Infinity
      for (let cl = 0; cl < classes; cl++) {
        let acc = b.data[cl]!
        for (let i = 0; i < p; i++) acc += W.data[cl * p + i]! * embeds[s * p + i]!
        logits[cl] = acc
        if (acc > max) max = acc
      }
      let sum = 0
      for (let cl = 0; cl < classes; cl++) { logits[cl] = detExp(logits[cl]! - max); sum += logits[cl]! }
      for (let cl = 0; cl < classes; cl++) out[s * classes + cl] = logits[cl]! / sum
    }
    return { probabilities: out, classes }
  }

  /** Mean cross-entropy of `labels` under the probabilities. */
  static crossEntropy (probabilities: Float64Array, classes: number, labels: Int32Array): number {
    let sum = 0
    for (let i = 0; i < labels.length; i++) sum -= detLog(Math.max(probabilities[i * classes + labels[i]!]!, 1e-300))
    return sum / labels.length
  }
}
