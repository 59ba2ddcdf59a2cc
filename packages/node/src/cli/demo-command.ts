// `medforge demo`: three simulated sites (synthetic data, toy linear model) train LoRA modules on their own data, and every merge method folds them
// in two different arrival orders to show that the composite — and its state root — is the same.
import { parseArgs } from 'node:util'
import { TOY_LAYER, ToyModel, compositeModule, mergeModules } from '@medforge/merge-core'
import type { MergeInput, MergeMethod, ToyData } from '@medforge/merge-core'

export const DEMO_HELP = `medforge demo [--json] — three simulated sites (synthetic data, the toy model) train LoRA
modules, and every merge method folds them in two arrival orders: the composite and its state root
are the same whatever the order
`

const SITES = [
  { name: 'site-a', task: 'task-1' },
  { name: 'site-b', task: 'task-1' },
  { name: 'site-c', task: 'task-2' }
]

export async function demo (args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean' }, exit: { type: 'boolean' } }, allowPositionals: true, strict: false })
  const log = values.json === true ? () => {} : (line = '') => console.log(line)
  const model = new ToyModel()
  const inputs: MergeInput<ToyData>[] = SITES.map((site, i) => {
    const train = model.makeData(site.task, 96, `${site.name}/train`)
    return {
      module: model.train(site.task, train, { epochs: 60, seed: site.name }),
      height: 1,
      task: site.task,
      sampleCount: 96,
      label: site.name,
      context: model.makeData(site.task, 16, `${site.name}/distilled-${i}`),
      inputGrams: new Map([[TOY_LAYER, model.inputGram(train)]])
    }
  })
  const test = Object.fromEntries(SITES.map(s => [s.task, model.makeData(s.task, 400, 'test')]))
  const heads = Object.fromEntries(inputs.map(i => [i.task!, i.module.heads]))
  const accuracy = (module: Parameters<ToyModel['accuracy']>[0]): string =>
    Object.keys(test).map(task => `${task} ${(100 * model.accuracy(module, heads[task]!, test[task]!)).toFixed(1)}%`).join('  ')

  log('site modules (each trained only on its own data; accuracy on held-out test data):')
  for (const input of inputs) log(`  ${input.label!.padEnd(11)} ${input.task!.padEnd(10)} ${accuracy(input.module)}`)
  log()
  log('composites, merged in two arrival orders:')
  const methods: MergeMethod[] = [{ name: 'linear' }, { name: 'ties', density: 0.5 }, { name: 'dare', density: 0.7 }, { name: 'medforge-fusion' }, { name: 'medforge-regmean' }]
  const rows = []
  for (const method of methods) {
    const forward = await mergeModules(inputs, method, { evaluator: model.evaluator() })
    const backward = await mergeModules([...inputs].reverse(), method, { evaluator: model.evaluator() })
    const agree = forward.stateRoot === backward.stateRoot
    rows.push({ method: method.name, stateRoot: forward.stateRoot, ordersAgree: agree })
    log(`  ${method.name.padEnd(16)} ${accuracy(compositeModule(forward))}  root ${forward.stateRoot.slice(0, 20)}… ${agree ? 'same in both orders' : 'ORDERS DISAGREE'}`)
  }
  if (values.json === true) console.log(JSON.stringify({ composites: rows }, null, 2))
  if (rows.some(r => !r.ordersAgree)) process.exitCode = 1
}
