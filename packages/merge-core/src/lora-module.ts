// A LoRA module: the low-rank factor pairs of each adapted layer, plus the task-head tensors that
// travel with it but are never merged. Built from the flat tensor map of a PEFT adapter file.
import { Sha256Writer } from './cid.ts'
import { canonicalJson } from './canonical-json.ts'
import { InvalidAdapterError } from './errors.ts'
import { identityConfig } from './lora-config.ts'
import type { LoraConfig } from './lora-config.ts'
import { compareUtf8, formatShape } from './tensor.ts'
import type { F32Tensor } from './tensor.ts'

export interface LoraPair {
  /** [rank, in_features] */
  readonly A: F32Tensor
  /** [out_features, rank] */
  readonly B: F32Tensor
}

export interface LoraModule {
  readonly config: LoraConfig
  /** Keyed by the PEFT layer prefix, e.g. `base_model.model.vision_model.encoder.layers.0.self_attn.q_proj`. */
  readonly layers: ReadonlyMap<string, LoraPair>
  /** Non-LoRA tensors (PEFT modules_to_save, e.g. a classifier), under their PEFT key names. */
  readonly heads: ReadonlyMap<string, F32Tensor>
  /**
   * Who published it (a network peer id), when it was published: part of the module's identity,
   * so no one else can announce the same module CID as theirs. Composites have none.
   */
  readonly author?: string
}

// `<prefix>.lora_A.weight`, or with the adapter name still in it (`<prefix>.lora_A.default.weight`).
const LORA_KEY = /^(.+)\.lora_([AB])(?:\.([^.]+))?\.weight$/
const UNSUPPORTED_KEY = /\.(lora_embedding_[AB]|lora_magnitude_vector)(\.|$)/

export function loraModuleFromTensors (config: LoraConfig, tensors: ReadonlyMap<string, F32Tensor>, source: string): LoraModule {
  const fail = (detail: string): never => { throw new InvalidAdapterError(source, detail) }
  const halves = new Map<string, { A?: F32Tensor, B?: F32Tensor }>()
  const heads = new Map<string, F32Tensor>()
  for (const name of [...tensors.keys()].sort(compareUtf8)) {
    const t = tensors.get(name)!
    const unsupported = UNSUPPORTED_KEY.exec(name)
    if (unsupported !== null) fail(`tensor "${name}": ${unsupported[1]} (embedding LoRA / DoRA) is not supported`)
    const m = LORA_KEY.exec(name)
    if (m === null) { heads.set(name, t); continue }
    const prefix = m[1]!
    const which = m[2] as 'A' | 'B'
    const pair = halves.get(prefix) ?? {}
    if (pair[which] !== undefined) fail(`layer "${prefix}" has two lora_${which} tensors (with and without an adapter name?)`)
    pair[which] = t
    halves.set(prefix, pair)
  }
  const layers = new Map<string, LoraPair>()
  for (const [prefix, { A, B }] of halves) {
    if (A === undefined) fail(`layer "${prefix}" has lora_B but no lora_A`)
    if (B === undefined) fail(`layer "${prefix}" has lora_A but no lora_B`)
    if (A!.shape.length !== 2 || B!.shape.length !== 2) {
      fail(`layer "${prefix}": lora_A ${formatShape(A!.shape)} and lora_B ${formatShape(B!.shape)} must both be matrices (only Linear layers are supported)`)
    }
    const rank = rankFor(config, prefix)
    if (A!.shape[0] !== rank) fail(`layer "${prefix}": lora_A is ${formatShape(A!.shape)}, its first dimension must be the rank ${rank}`)
    if (B!.shape[1] !== rank) fail(`layer "${prefix}": lora_B is ${formatShape(B!.shape)}, its second dimension must be the rank ${rank}`)
    layers.set(prefix, { A: A!, B: B! })
  }
  if (layers.size === 0) fail('no LoRA tensors (keys ending in .lora_A.weight / .lora_B.weight)')
  return { config, layers: sortedMap(layers), heads: sortedMap(heads) }
}

/** PEFT's rank_pattern keys are matched against the end of the layer name (as a regex when they are one). */
export function rankFor (config: LoraConfig, prefix: string): number {
  for (const [pattern, r] of Object.entries(config.rankPattern)) {
    if (prefix === pattern || prefix.endsWith(`.${pattern}`) || patternMatches(pattern, prefix)) return r
  }
  return config.r
}

function patternMatches (pattern: string, name: string): boolean {
  try {
    return new RegExp(`(^|\\.)${pattern}$`).test(name)
  } catch {
    return false // not a regular expression: only the literal suffix match above applies
  }
}

/** The module's tensors under their PEFT file keys, LoRA factors first then heads, as an adapter file holds them. */
export function moduleTensors (module: LoraModule, includeHeads = true): Map<string, F32Tensor> {
  const out = new Map<string, F32Tensor>()
  for (const [prefix, { A, B }] of module.layers) {
    out.set(`${prefix}.lora_A.weight`, A)
    out.set(`${prefix}.lora_B.weight`, B)
  }
  if (includeHeads) for (const [name, t] of module.heads) out.set(name, t)
  return out
}

/**
 * Writes the canonical encoding of named tensors: a domain string, a JSON document, then each
 * tensor in UTF-8 name order as (name, rank, dims, little-endian binary32 data).
 */
export function writeCanonicalTensors (w: Sha256Writer, domain: string, json: unknown, tensors: ReadonlyMap<string, F32Tensor>): Sha256Writer {
  w.string(domain).string(canonicalJson(json)).u32(tensors.size)
  for (const name of [...tensors.keys()].sort(compareUtf8)) {
    const t = tensors.get(name)!
    w.string(name).u32(t.shape.length)
    for (const d of t.shape) w.u32(d)
    w.f32(t.data)
  }
  return w
}

/** The module's identity: its LoRA factors and the config fields that change what they compute. */
export function moduleCid (module: LoraModule): string {
  const identity = module.author === undefined ? identityConfig(module.config) : { ...identityConfig(module.config), medforge_author: module.author }
  return writeCanonicalTensors(new Sha256Writer(), 'medforge/module/v1', identity, moduleTensors(module, false)).cid()
}

/** The identity of the task head carried with a module; undefined when it has none. */
export function headCid (module: LoraModule): string | undefined {
  if (module.heads.size === 0) return undefined
  return writeCanonicalTensors(new Sha256Writer(), 'medforge/head/v1', {}, module.heads).cid()
}

export function parameterCount (module: LoraModule): number {
  let n = 0
  for (const { A, B } of module.layers.values()) n += A.data.length + B.data.length
  return n
}

function sortedMap<V> (map: Map<string, V>): Map<string, V> {
  return new Map([...map.entries()].sort((a, b) => compareUtf8(a[0], b[0])))
}
