// `medforge toy …`: the small deterministic model for protocol testnets and tests, where the clinical
// model would make every step slow. Produces real, trained module bundles on synthetic tasks.
import { parseArgs } from 'node:util'
import { ToyModel } from '@medforge/merge-core'
import { TOY_ARCHITECTURE, toyWeightsCid } from '../daemon/network-model.ts'
import { writeModuleBundle } from './module-bundle.ts'
import { UsageError } from './usage-error.ts'

export const TOY_HELP = `medforge toy — the deterministic toy model (synthetic tasks) for protocol testnets

  medforge toy base-model                      print the --base-model value for 'network create'
  medforge toy module --task T --site NAME --out DIR [--samples N] [--distilled N] [--epochs N]
                                               train a module bundle on the site's synthetic data
`

export function toyCommand (args: string[]): void {
  const [sub, ...rest] = args
  if (sub === 'base-model') { console.log(`${TOY_ARCHITECTURE}@${toyWeightsCid()}`); return }
  if (sub === 'module') {
    const { values } = parseArgs({ args: rest, options: { task: { type: 'string' }, site: { type: 'string' }, out: { type: 'string' }, samples: { type: 'string' }, distilled: { type: 'string' }, epochs: { type: 'string' } } })
    if (values.task === undefined || values.site === undefined || values.out === undefined) throw new UsageError('toy module needs --task, --site and --out')
    const samples = Number(values.samples ?? 96)
    const distilledCount = Number(values.distilled ?? 16)
    const epochs = Number(values.epochs ?? 60)
    for (const [flag, v] of [['--samples', samples], ['--distilled', distilledCount], ['--epochs', epochs]] as const) {
      if (!Number.isSafeInteger(v) || v < 1) throw new UsageError(`${flag} must be a positive integer`)
    }
    const model = new ToyModel()
    const train = model.makeData(values.task, samples, `${values.site}/train`)
    const module = model.train(values.task, train, { epochs, seed: values.site })
    const distilled = model.makeData(values.task, distilledCount, `${values.site}/distilled`)
    const test = model.makeData(values.task, 400, 'test')
    const accuracy = model.accuracy(module, module.heads, test)
    writeModuleBundle(values.out, module, { task: values.task, inputs: { shape: [distilledCount, model.spec.inputs], data: distilled.x }, labels: distilled.y }, {
      task: values.task, samples, metrics: { accuracy }
    })
    console.log(`module for ${values.task} at ${values.site}: test accuracy ${(100 * accuracy).toFixed(1)}%, written to ${values.out}`)
    return
  }
  throw new UsageError(`unknown toy command "${sub ?? ''}" (base-model, module)`)
}
