// The fixed toy contributors shared by tests, fixtures and the benchmark: two sites of task "a"
// and one of task "b", each with a trained module and a small distilled set.
import { TOY_LAYER } from '../src/index.ts'
import type { MergeInput, ToyData, ToyModel } from '../src/index.ts'

export function toyInputs (model: ToyModel, count = 3): MergeInput<ToyData>[] {
  return Array.from({ length: count }, (_, i) => {
    const task = i % 3 === 2 ? 'b' : 'a'
    const data = model.makeData(task, 48, `site-${i}`)
    const inputGrams = new Map([[TOY_LAYER, model.inputGram(data)]])
    return {
      module: model.train(task, data, { epochs: 40, seed: `site-${i}` }),
      height: 1 + (i % 2),
      task,
      sampleCount: 48 + 8 * i,
      weight: 0.5 + 0.25 * i,
      context: model.makeData(task, 12, `distilled-${i}`),
      label: `site-${i}`,
      inputGrams
    }
  })
}
