// The loss interface of the searched methods. merge-core knows no model: whoever supplies the
// model (a vision transformer, or a toy logistic regression in tests) implements this.
import type { LoraModule } from '../lora-module.ts'
import type { OrderedInput } from './inputs.ts'

export interface Predictions {
  /** Row-major [samples, classes] class probabilities. */
  readonly probabilities: Float64Array
  readonly classes: number
  /** The true class of each sample. */
  readonly labels: Int32Array
}

export interface CandidateEvaluator<D = unknown> {
  /**
   * Identifies the loss exactly (model weights, data encoding, version). It is hashed into every
   * state root, so two evaluators with the same id must return bit-identical losses.
   */
  readonly id: string
  /**
   * Mean classification loss of the base model with `candidate` applied and `contributor`'s task
   * head, on `contributor`'s distilled set. Must be deterministic to the bit (see DETERMINISM.md).
   */
  loss (candidate: LoraModule, contributor: OrderedInput<D>): number | Promise<number>
  /** Class probabilities of the base model with `module` and `contributor`'s head on its distilled set (Mixture only). */
  predict? (module: LoraModule, contributor: OrderedInput<D>): Predictions | Promise<Predictions>
}

/** Groups contributors by task (in task-id order), for "mean over the tasks seen so far". */
export function byTask<D> (contributors: readonly OrderedInput<D>[]): OrderedInput<D>[][] {
  const groups = new Map<string, OrderedInput<D>[]>()
  for (const c of contributors) {
    const task = c.task ?? ''
    const g = groups.get(task) ?? []
    g.push(c)
    groups.set(task, g)
  }
  return [...groups.keys()].sort().map(k => groups.get(k)!)
}
