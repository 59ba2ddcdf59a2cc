// The state root: one hash that commits to everything a composite is — engine version, method and
// parameters, the ordered module CIDs, and the composite's own numbers.
import { Sha256Writer } from '../cid.ts'
import { canonicalJson } from '../canonical-json.ts'
import { identityConfig } from '../lora-config.ts'
import { moduleTensors, writeCanonicalTensors } from '../lora-module.ts'
import type { LoraModule } from '../lora-module.ts'
import type { CanonicalMethod } from './methods.ts'

/** Bumped whenever any rule in DETERMINISM.md changes; peers on different versions disagree on roots by design. */
export const ENGINE_VERSION = 'medforge-merge/1'

export type Composite =
  | { readonly kind: 'adapter', readonly module: LoraModule }
  | { readonly kind: 'mixture', readonly weights: readonly number[] }
  | { readonly kind: 'empty' }

/** `inputWeights`: the per-input weights a weighted method used, in canonical order (rounded to binary32). */
export function stateRoot (method: CanonicalMethod, orderedCids: readonly string[], composite: Composite, inputWeights?: readonly number[]): string {
  const w = new Sha256Writer()
  const params = inputWeights === undefined ? method : { ...method, inputWeights: inputWeights.map(x => Math.fround(x)) }
  w.string('medforge/state-root/v1').string(ENGINE_VERSION).string(canonicalJson(params)).u32(orderedCids.length)
  for (const cid of orderedCids) w.string(cid)
  w.string(composite.kind)
  if (composite.kind === 'adapter') {
    writeCanonicalTensors(w, 'medforge/composite/v1', identityConfig(composite.module.config), moduleTensors(composite.module, false))
  } else if (composite.kind === 'mixture') {
    w.u32(composite.weights.length).f32(Float32Array.from(composite.weights))
  }
  return w.cid()
}
