// The merge engine's loss interface implemented with the vision transformer: a candidate module
// is scored on each contributor's distilled set with that contributor's task head, through the
// deterministic forward pass, so MedForge-Fusion and -Mixture agree to the bit on every peer.
import type { CandidateEvaluator } from '@medforge/merge-core'
import type { OrderedInput } from '@medforge/merge-core'
import type { LoraModule } from '@medforge/merge-core'
import { VIT_ARCHITECTURE } from './vit-config.ts'
import { VitDet } from './vit-det.ts'
import type { VitWeights } from './vit-weights.ts'

/** A contributor's distilled set as the evaluator needs it. */
export interface VitContext { readonly inputs: Float32Array, readonly labels: Int32Array }

export const VIT_LOSS_VERSION = 'det-forward/v1'

export function vitEvaluator (base: { weights: VitWeights, cid: string }): CandidateEvaluator<VitContext> {
  const det = new VitDet(base.weights)
  const probabilities = (module: LoraModule, c: OrderedInput<VitContext>): { probabilities: Float64Array, classes: number } => {
    const ctx = c.context!
    const n = ctx.labels.length
    return det.probabilities(det.embed(ctx.inputs, n, module), n, c.module.heads)
  }
  return {
    id: `${VIT_ARCHITECTURE}@${base.cid}|${VIT_LOSS_VERSION}`,
    loss (candidate, c) {
      const { probabilities: p, classes } = probabilities(candidate, c)
      return VitDet.crossEntropy(p, classes, c.context!.labels)
    },
    predict (module, c) {
      const { probabilities: p, classes } = probabilities(module, c)
      return { probabilities: p, classes, labels: c.context!.labels }
    }
  }
}
