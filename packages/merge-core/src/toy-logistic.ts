// A small, fully deterministic model for exercising the searched merges without the vision model:
// a frozen linear encoder W0 (LoRA-adapted, W = W0 + s·B·A) followed by a per-task softmax head.
// Everything is plain binary32/binary64 arithmetic in a fixed order, so losses are bit-identical
// on every machine. Used by tests, the merge benchmark and the demo.
import { detExp, detLog } from './det-math.ts'
import { loraScaling, newLoraConfig } from './lora-config.ts'
import type { LoraModule } from './lora-module.ts'
import type { CandidateEvaluator, Predictions } from './merge/evaluator.ts'
import type { OrderedInput } from './merge/inputs.ts'
import { Xoshiro128 } from './prng.ts'
import type { F32Tensor } from './tensor.ts'

export const TOY_LAYER = 'base_model.model.encoder'
export const TOY_HEAD_WEIGHT = 'base_model.model.head.weight'
export const TOY_HEAD_BIAS = 'base_model.model.head.bias'

export interface ToyData {
  /** Row-major [n, inputs]. */
  readonly x: Float32Array
  readonly y: Int32Array
}

export interface ToySpec {
  readonly inputs: number
  readonly hidden: number
  readonly classes: number
  readonly rank: number
  readonly alpha: number
  readonly seed: string
}

export const DEFAULT_TOY_SPEC: ToySpec = { inputs: 8, hidden: 6, classes: 2, rank: 2, alpha: 4, seed: 'medforge-toy/v1' }

function randomMatrix (rows: number, cols: number, std: number, rng: Xoshiro128): Float32Array {
  const out = new Float32Array(rows * cols)
  for (let i = 0; i < out.length; i++) out[i] = rng.irwinHall() * std
  return out
}

export class ToyModel {
  readonly spec: ToySpec
  readonly w0: Float32Array

  constructor (spec: ToySpec = DEFAULT_TOY_SPEC) {
    this.spec = spec
    this.w0 = randomMatrix(spec.hidden, spec.inputs, 1 / Math.sqrt(spec.inputs), Xoshiro128.fromString(`${spec.seed}|w0`))
  }

  get id (): string {
    const s = this.spec
    return `toy-logistic/v1|${s.inputs}x${s.hidden}x${s.classes}|r${s.rank}|a${s.alpha}|${s.seed}`
  }

  /** A labelled task: class-conditional Gaussians whose means depend on the task name. */
  makeData (task: string, n: number, seed: string): ToyData {
    const { inputs, classes } = this.spec
    const meanRng = Xoshiro128.fromString(`${this.spec.seed}|task|${task}`)
    const means = randomMatrix(classes, inputs, 1.5, meanRng)
    const rng = Xoshiro128.fromString(`${seed}|${task}|${n}`)
    const x = new Float32Array(n * inputs)
    const y = new Int32Array(n)
    for (let i = 0; i < n; i++) {
      const c = i % classes
      y[i] = c
      for (let k = 0; k < inputs; k++) x[i * inputs + k] = means[c * inputs + k]! + rng.irwinHall()
    }
    return { x, y }
  }

  /** The encoder's input statistics on `data` (mean xᵀx, trace-normalised, symmetric), as MedForge-RegMean takes them. */
  inputGram (data: ToyData): F32Tensor {
    const n = this.spec.inputs
    const rows = data.y.length
    const sum = new Float64Array(n * n)
    for (let r = 0; r < rows; r++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) sum[i * n + j] = sum[i * n + j]! + data.x[r * n + i]! * data.x[r * n + j]!
    let trace = 0
    for (let i = 0; i < n; i++) trace += sum[i * n + i]!
    return { shape: [n, n], data: Float32Array.from(sum, v => Math.fround(v * n / trace)) }
  }

  /** Effective encoder weights W0 + s·B·A in binary32, accumulated in a fixed order. */
  effectiveWeights (module: LoraModule | undefined): Float32Array {
    const w = Float32Array.from(this.w0)
    if (module === undefined) return w
    const pair = module.layers.get(TOY_LAYER)
    if (pair === undefined) return w
    const { inputs, hidden } = this.spec
    const r = pair.A.shape[0]!
    const s = Math.fround(loraScaling(module.config))
    for (let o = 0; o < hidden; o++) {
      for (let i = 0; i < inputs; i++) {
        let acc = 0
        for (let k = 0; k < r; k++) acc = Math.fround(acc + Math.fround(pair.B.data[o * r + k]! * pair.A.data[k * inputs + i]!))
        w[o * inputs + i] = Math.fround(w[o * inputs + i]! + Math.fround(s * acc))
      }
    }
    return w
  }

  /** Softmax probabilities [n, classes] in binary64 with deterministic exp. */
  probabilities (weights: Float32Array, head: ReadonlyMap<string, F32Tensor>, data: ToyData): Float64Array {
    const { inputs, hidden, classes } = this.spec
    const hw = head.get(TOY_HEAD_WEIGHT)?.data ?? new Float32Array(classes * hidden)
    const hb = head.get(TOY_HEAD_BIAS)?.data ?? new Float32Array(classes)
    const n = data.y.length
    const out = new Float64Array(n * classes)
    const z = new Float32Array(hidden)
    const logits = new Float64Array(classes)
    for (let i = 0; i < n; i++) {
      for (let o = 0; o < hidden; o++) {
        let acc = 0
        for (let k = 0; k < inputs; k++) acc = Math.fround(acc + Math.fround(weights[o * inputs + k]! * data.x[i * inputs + k]!))
        z[o] = acc
      }
      let max = -Infinity
      for (let c = 0; c < classes; c++) {
        let acc = hb[c]!
        for (let o = 0; o < hidden; o++) acc = Math.fround(acc + Math.fround(hw[c * hidden + o]! * z[o]!))
        logits[c] = acc
        if (acc > max) max = acc
      }
      let sum = 0
      for (let c = 0; c < classes; c++) { const e = detExp(logits[c]! - max); out[i * classes + c] = e; sum += e }
      for (let c = 0; c < classes; c++) out[i * classes + c] = out[i * classes + c]! / sum
    }
    return out
  }

  crossEntropy (probs: Float64Array, data: ToyData): number {
    const { classes } = this.spec
    let sum = 0
    for (let i = 0; i < data.y.length; i++) sum -= detLog(Math.max(probs[i * classes + data.y[i]!]!, 1e-300))
    return sum / data.y.length
  }

  accuracy (module: LoraModule | undefined, head: ReadonlyMap<string, F32Tensor>, data: ToyData): number {
    const p = this.probabilities(this.effectiveWeights(module), head, data)
    const { classes } = this.spec
    let correct = 0
    for (let i = 0; i < data.y.length; i++) {
      let best = 0
      for (let c = 1; c < classes; c++) if (p[i * classes + c]! > p[i * classes + best]!) best = c
      if (best === data.y[i]) correct++
    }
    return correct / data.y.length
  }

  /**
   * Trains LoRA factors and a head by full-batch gradient descent (binary64, fixed order). B starts
   * at zero and A small and random, as PEFT initialises them.
   */
  train (task: string, data: ToyData, options: { epochs?: number, lr?: number, seed?: string } = {}): LoraModule {
    const { inputs, hidden, classes, rank } = this.spec
    const rng = Xoshiro128.fromString(`${options.seed ?? 'train'}|${task}`)
    const A = Float64Array.from(randomMatrix(rank, inputs, 1 / Math.sqrt(inputs), rng))
    const B = new Float64Array(hidden * rank)
    const H = Float64Array.from(randomMatrix(classes, hidden, 0.1, rng))
    const hbias = new Float64Array(classes)
    const s = this.spec.alpha / rank
    const lr = options.lr ?? 0.1
    const n = data.y.length
    for (let epoch = 0; epoch < (options.epochs ?? 100); epoch++) {
      const gA = new Float64Array(A.length); const gB = new Float64Array(B.length)
      const gH = new Float64Array(H.length); const gb = new Float64Array(classes)
      for (let i = 0; i < n; i++) {
        const x = data.x.subarray(i * inputs, (i + 1) * inputs)
        const ax = new Float64Array(rank)
        for (let k = 0; k < rank; k++) for (let j = 0; j < inputs; j++) ax[k] = ax[k]! + A[k * inputs + j]! * x[j]!
        const z = new Float64Array(hidden)
        for (let o = 0; o < hidden; o++) {
          let acc = 0
          for (let j = 0; j < inputs; j++) acc += this.w0[o * inputs + j]! * x[j]!
          for (let k = 0; k < rank; k++) acc += s * B[o * rank + k]! * ax[k]!
          z[o] = acc
        }
        const logits = new Float64Array(classes)
        let max = -Infinity
        for (let c = 0; c < classes; c++) {
          let acc = hbias[c]!
          for (let o = 0; o < hidden; o++) acc += H[c * hidden + o]! * z[o]!
          logits[c] = acc; if (acc > max) max = acc
        }
        let sum = 0
        for (let c = 0; c < classes; c++) { logits[c] = detExp(logits[c]! - max); sum += logits[c]! }
        const dz = new Float64Array(hidden)
        for (let c = 0; c < classes; c++) {
          const d = (logits[c]! / sum - (data.y[i] === c ? 1 : 0)) / n
          gb[c] = gb[c]! + d
          for (let o = 0; o < hidden; o++) { gH[c * hidden + o] = gH[c * hidden + o]! + d * z[o]!; dz[o] = dz[o]! + d * H[c * hidden + o]! }
        }
        const dax = new Float64Array(rank)
        for (let o = 0; o < hidden; o++) {
          for (let k = 0; k < rank; k++) { gB[o * rank + k] = gB[o * rank + k]! + s * dz[o]! * ax[k]!; dax[k] = dax[k]! + s * dz[o]! * B[o * rank + k]! }
        }
        for (let k = 0; k < rank; k++) for (let j = 0; j < inputs; j++) gA[k * inputs + j] = gA[k * inputs + j]! + dax[k]! * x[j]!
      }
      for (const [p, g] of [[A, gA], [B, gB], [H, gH], [hbias, gb]] as const) for (let i = 0; i < p.length; i++) p[i] = p[i]! - lr * g[i]!
    }
    return {
      config: newLoraConfig({ baseModel: this.id, r: rank, loraAlpha: this.spec.alpha, targetModules: ['encoder'], modulesToSave: ['head'] }),
      layers: new Map([[TOY_LAYER, { A: { shape: [rank, inputs], data: Float32Array.from(A) }, B: { shape: [hidden, rank], data: Float32Array.from(B) } }]]),
      heads: new Map([
        [TOY_HEAD_BIAS, { shape: [classes], data: Float32Array.from(hbias) }],
        [TOY_HEAD_WEIGHT, { shape: [classes, hidden], data: Float32Array.from(H) }]
      ])
    }
  }

  /** The loss interface of the searched merges; contributors carry their distilled set as context. */
  evaluator (): CandidateEvaluator<ToyData> {
    return {
      id: this.id,
      loss: (candidate: LoraModule, c: OrderedInput<ToyData>) =>
        this.crossEntropy(this.probabilities(this.effectiveWeights(candidate), c.module.heads, c.context!), c.context!),
      predict: (module: LoraModule, c: OrderedInput<ToyData>): Predictions => ({
        probabilities: this.probabilities(this.effectiveWeights(module), c.module.heads, c.context!),
        classes: this.spec.classes,
        labels: c.context!.y
      })
    }
  }
}
