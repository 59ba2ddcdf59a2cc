// The data-free baselines: weighted linear average, task arithmetic, TIES and DARE. Like PEFT's
// non-SVD `add_weighted_adapter` paths they act on the stacks of lora_A and of lora_B factors
// separately, so the composite keeps the inputs' rank and config.
import { InvalidMergeOptionsError } from '../errors.ts'
import type { LoraModule, LoraPair } from '../lora-module.ts'
import { Xoshiro128 } from '../prng.ts'
import { electAndMerge, keepTopK, scale, weightedSum } from './f32-ops.ts'
import type { OrderedInput } from './inputs.ts'
import type { CanonicalMethod, Weighting } from './methods.ts'

type DataFreeMethod = Extract<CanonicalMethod, { name: 'linear' | 'task-arithmetic' | 'ties' | 'dare' }>

export function resolveWeights (inputs: readonly OrderedInput[], weighting: Weighting): number[] {
  if (weighting === 'uniform') return inputs.map(() => 1 / inputs.length)
  if (weighting === 'samples') {
    const counts = inputs.map(i => {
      if (i.sampleCount === undefined || !Number.isSafeInteger(i.sampleCount) || i.sampleCount <= 0) {
        throw new InvalidMergeOptionsError(`weighting by samples needs a positive sample count for ${i.label ?? i.cid}`)
      }
      return i.sampleCount
    })
    const total = counts.reduce((a, b) => a + b, 0)
    return counts.map(c => c / total)
  }
  return inputs.map(i => {
    const w = i.weight ?? 1
    if (!Number.isFinite(w)) throw new InvalidMergeOptionsError(`weight of ${i.label ?? i.cid} is not finite`)
    return w
  })
}

export function mergeDataFree (inputs: readonly OrderedInput[], method: DataFreeMethod): { module: LoraModule, weights: number[] } {
  const weights = resolveWeights(inputs, method.weighting)
  const first = inputs[0]!.module
  const allCids = inputs.map(i => i.cid).join(',')
  const layers = new Map<string, LoraPair>()
  for (const [layer, pair] of first.layers) {
    const merged: Partial<Record<'A' | 'B', Float32Array>> = {}
    for (const factor of ['A', 'B'] as const) {
      const key = `${layer}.lora_${factor}.weight`
      const xs = inputs.map(i => i.module.layers.get(layer)![factor].data)
      merged[factor] = mergeFactor(method, xs, weights, (index) => `medforge/dare/v1|${allCids}|${inputs[index]!.cid}|${key}`)
    }
    layers.set(layer, { A: { shape: pair.A.shape, data: merged.A! }, B: { shape: pair.B.shape, data: merged.B! } })
  }
  return { module: { config: first.config, layers, heads: new Map() }, weights }
}

function mergeFactor (method: DataFreeMethod, xs: Float32Array[], weights: number[], seedOf: (index: number) => string): Float32Array {
  switch (method.name) {
    case 'linear':
    case 'task-arithmetic':
      return weightedSum(xs, weights)
    case 'ties': {
      const k = Math.floor(method.density * xs[0]!.length)
      return electAndMerge(xs.map((x, i) => scale(keepTopK(x, k), weights[i]!)), method.majoritySign)
    }
    case 'dare': {
      const dropped = xs.map((x, i) => dropAndRescale(x, method.density, Xoshiro128.fromString(seedOf(i))))
      return method.combine === 'linear'
        ? weightedSum(dropped, weights)
        : electAndMerge(dropped.map((x, i) => scale(x, weights[i]!)), method.majoritySign)
    }
  }
}

/** DARE: keep each element with probability `density` (one PRNG draw per element, in index order), rescaled by 1/density. */
export function dropAndRescale (x: Float32Array, density: number, rng: Xoshiro128): Float32Array {
  const out = new Float32Array(x.length)
  const keepBelow = Math.floor(density * 2 ** 32)
  const d = Math.fround(density)
  const draws = rng.fill(new Uint32Array(x.length))
  for (let j = 0; j < x.length; j++) {
    const keep = draws[j]! < keepBelow || density === 1
    out[j] = keep ? x[j]! / d : 0
  }
  return out
}
