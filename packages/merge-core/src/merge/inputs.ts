// What a merge takes: modules with their place in the canonical order, and the compatibility
// rules that must hold before any arithmetic happens.
import { IncompatibleModulesError, InvalidMergeOptionsError } from '../errors.ts'
import { identityConfig } from '../lora-config.ts'
import { headCid, moduleCid } from '../lora-module.ts'
import type { LoraModule } from '../lora-module.ts'
import { canonicalJson } from '../canonical-json.ts'
import { formatShape, sameShape } from '../tensor.ts'
import type { F32Tensor } from '../tensor.ts'

export interface MergeInput<D = unknown> {
  readonly module: LoraModule
  /** Position in the network's history: parent state height + 1. Files merged by hand use 0. */
  readonly height: number
  /** Training samples behind the module, for FedAvg-style weights. */
  readonly sampleCount?: number
  /** A user-given weight for the weighted data-free methods. */
  readonly weight?: number
  /** The task whose head and distilled set come with this module (searched methods need it). */
  readonly task?: string
  /** What the loss needs from this contributor (its distilled set, for example); opaque to the engine. */
  readonly context?: D
  /**
   * Second moments of each LoRA layer's inputs on the contributor's data, [in, in] by PEFT layer
   * key (MedForge-RegMean weighs updates by them); shipped with the distilled set.
   */
  readonly inputGrams?: ReadonlyMap<string, F32Tensor>
  /** A name for messages (a path); the CID is used when absent. */
  readonly label?: string
  /**
   * The module's CID when the caller has already computed and verified it (a store that checked
   * it on receipt); computed here otherwise. A wrong value gives a wrong state root.
   */
  readonly cid?: string
}

export interface OrderedInput<D = unknown> extends MergeInput<D> {
  readonly cid: string
}

/**
 * The canonical order: by height, then by CID string. The same set of modules always gives the
 * same order, whatever order they arrived in. A module given twice counts once.
 */
export function canonicalOrder<D> (inputs: readonly MergeInput<D>[]): OrderedInput<D>[] {
  const byCid = new Map<string, OrderedInput<D>>()
  for (const input of inputs) {
    if (!Number.isSafeInteger(input.height) || input.height < 0) {
      throw new InvalidMergeOptionsError(`height of ${input.label ?? 'a module'} must be a non-negative integer, got ${input.height}`)
    }
    const cid = input.cid ?? moduleCid(input.module)
    const seen = byCid.get(cid)
    if (seen !== undefined) {
      if (seen.height !== input.height || seen.weight !== input.weight) {
        throw new InvalidMergeOptionsError(`module ${cid} is given twice with different heights or weights`)
      }
      // The head is not part of the module CID: keeping either would depend on the input order.
      if (headCid(seen.module) !== headCid(input.module)) {
        throw new InvalidMergeOptionsError(`module ${cid} is given twice with different task heads (${seen.label ?? 'one'} and ${input.label ?? 'another'}): merge them under distinct LoRA factors, or give one head`)
      }
      continue
    }
    byCid.set(cid, { ...input, cid })
  }
  return [...byCid.values()].sort((a, b) => a.height - b.height || (a.cid < b.cid ? -1 : a.cid > b.cid ? 1 : 0))
}

/** Refuses module sets that cannot be merged, naming the first difference found. */
export function assertCompatible (inputs: readonly OrderedInput[]): void {
  const first = inputs[0]
  if (first === undefined) return
  const name = (i: OrderedInput): string => i.label ?? i.cid
  const ref = identityConfig(first.module.config)
  for (const other of inputs.slice(1)) {
    const cfg = identityConfig(other.module.config)
    for (const key of Object.keys(ref)) {
      const a = canonicalJson(ref[key])
      const b = canonicalJson(cfg[key])
      if (a !== b) throw new IncompatibleModulesError(key, `${name(first)} has ${a}, ${name(other)} has ${b}`)
    }
    const layersA = [...first.module.layers.keys()]
    const layersB = new Set(other.module.layers.keys())
    const missing = layersA.find(l => !layersB.has(l))
    if (missing !== undefined) throw new IncompatibleModulesError('layers', `${name(other)} has no LoRA layer "${missing}" (which ${name(first)} has)`)
    if (layersB.size !== layersA.length) {
      const extra = [...layersB].find(l => !first.module.layers.has(l))
      throw new IncompatibleModulesError('layers', `${name(other)} has a LoRA layer "${extra}" that ${name(first)} lacks`)
    }
    for (const [layer, pa] of first.module.layers) {
      const pb = other.module.layers.get(layer)!
      for (const f of ['A', 'B'] as const) {
        if (!sameShape(pa[f].shape, pb[f].shape)) {
          throw new IncompatibleModulesError('shape', `lora_${f} of "${layer}" is ${formatShape(pa[f].shape)} in ${name(first)} but ${formatShape(pb[f].shape)} in ${name(other)}`)
        }
      }
    }
  }
}
