// Base-model weights: seeded initialisation, and the safetensors file (config in the metadata)
// whose CID a network manifest names.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { cidOfBytes } from '@medforge/merge-core'
import { InvalidAdapterError } from '@medforge/merge-core'
import { Xoshiro128 } from '@medforge/merge-core'
import { decodeSafetensors, encodeSafetensors } from '@medforge/merge-core'
import { formatShape, sameShape } from '@medforge/merge-core'
import type { F32Tensor } from '@medforge/merge-core'
import { VIT_ARCHITECTURE, parameterShapes } from './vit-config.ts'
import type { VitConfig } from './vit-config.ts'

export interface VitWeights {
  readonly config: VitConfig
  readonly tensors: ReadonlyMap<string, F32Tensor>
}

/** Approximately normal draws (sum of 12 uniforms), deterministic from the seed. */
function normalFill (n: number, std: number, rng: Xoshiro128): Float32Array {
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    out[i] = rng.irwinHall() * std
  }
  return out
}

/** CLIP-style initialisation from a seed (normal weights, zero biases, unit layer-norm scales). */
export function initVitWeights (config: VitConfig, seed: string): VitWeights {
  const rng = Xoshiro128.fromString(`medforge-vit-init/v1|${seed}`)
  const tensors = new Map<string, F32Tensor>()
  for (const [name, shape] of parameterShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1)
    let data: Float32Array
    if (/layer_?norm.*\.weight$|layrnorm\.weight$/.test(name)) data = new Float32Array(n).fill(1)
    else if (name.endsWith('.bias')) data = new Float32Array(n)
    else {
      const fanIn = shape.length === 1 ? config.hidden : shape.slice(1).reduce((a, b) => a * b, 1)
      // sd 1/sqrt(3·fan-in), PyTorch's default for linear layers: the same pretraining from
      // sd 1/sqrt(fan-in) transferred measurably worse (BENCHMARKS.md, "this is the lever").
      data = normalFill(n, name.includes('embedding') && !name.includes('patch') ? 0.02 : 1 / Math.sqrt(3 * fanIn), rng)
    }
    tensors.set(name, { shape, data })
  }
  return { config, tensors }
}

export function encodeVitWeights (weights: VitWeights, metadata: Record<string, string> = {}): Uint8Array {
  return encodeSafetensors(weights.tensors, { metadata: { ...metadata, 'medforge.architecture': VIT_ARCHITECTURE, 'medforge.config': JSON.stringify(weights.config) } })
}

export function decodeVitWeights (bytes: Uint8Array, source: string): VitWeights {
  const file = decodeSafetensors(bytes, { source })
  if (file.metadata['medforge.architecture'] !== VIT_ARCHITECTURE) {
    throw new InvalidAdapterError(source, `metadata medforge.architecture is ${JSON.stringify(file.metadata['medforge.architecture'] ?? null)}, expected "${VIT_ARCHITECTURE}"`)
  }
  let config: VitConfig
  try {
    config = JSON.parse(file.metadata['medforge.config'] ?? '') as VitConfig
  } catch {
    throw new InvalidAdapterError(source, 'metadata medforge.config is not JSON')
  }
  for (const [name, shape] of parameterShapes(config)) {
    const t = file.tensors.get(name)
    if (t === undefined) throw new InvalidAdapterError(source, `missing base-model tensor ${name}`)
    if (!sameShape(t.shape, shape)) throw new InvalidAdapterError(source, `${name} is ${formatShape(t.shape)}, expected ${formatShape(shape)}`)
  }
  return { config, tensors: file.tensors }
}

/** The CID of the committed base-model file (`npm run pretrain`, recipe in its metadata). */
export const BASE_MODEL_CID = 'bafkreienq4rvoth6fsnkjog5sldivvtc7pk73stfy77gpwymbih7hsifre'

export const BASE_WEIGHTS_FILE = join(import.meta.dirname, '..', '..', 'weights', 'medforge-vit-tiny.safetensors')

let cached: { weights: VitWeights, cid: string } | undefined

/** The committed, pretrained base model and its CID. */
export function loadBaseWeights (path = BASE_WEIGHTS_FILE): { weights: VitWeights, cid: string } {
  if (path === BASE_WEIGHTS_FILE && cached !== undefined) return cached
  let bytes: Uint8Array
  try {
    bytes = readFileSync(path)
  } catch (err) {
    throw new InvalidAdapterError(path, `cannot read the base-model weights (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); run 'npm run pretrain' to build them`)
  }
  const out = { weights: decodeVitWeights(bytes, path), cid: cidOfBytes(bytes) }
  if (path === BASE_WEIGHTS_FILE) cached = out
  return out
}
