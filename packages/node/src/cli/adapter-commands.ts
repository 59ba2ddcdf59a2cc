// `medforge adapter inspect` and `medforge adapter merge`.
import { parseArgs } from 'node:util'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  ADAPTER_WEIGHTS, DATA_FREE_METHODS, decodeSafetensors, headCid, mergeModules, moduleCid, parameterCount, readPeftAdapter, writeComposite
} from '@medforge/merge-core'
import type { MergeInput, MergeMethod, SignMethod } from '@medforge/merge-core'
import { UsageError } from './usage-error.ts'

export const ADAPTER_HELP = `medforge adapter — inspect and merge Hugging Face PEFT LoRA adapters

  medforge adapter inspect DIR_OR_FILE [--json]
      Targets, rank, alpha, tensor and parameter counts, task-head tensors and the module CID.

  medforge adapter merge --method METHOD --out DIR [options] INPUT...
      Merges PEFT adapter folders with a data-free method and writes a PEFT adapter folder
      (plus task_heads/ and medforge-composite.json). Prints the composite's state root.
      The same inputs in any order give byte-identical output.
      --method linear|task-arithmetic|ties|dare
      --weights W1,W2,...    one weight per INPUT, in the order given (default: linear
                             averages uniformly, the others weight each input 1)
      --density D            ties: fraction of each factor kept (default 0.2);
                             dare: keep probability (default 0.5)
      --majority-sign total|frequency   TIES sign election (default total)
      --combine linear|ties  how DARE combines the dropped factors (default linear)
      --json                 print the result as JSON
`

export function adapterInspect (args: string[]): void {
  const { values, positionals } = parseArgs({ args, options: { json: { type: 'boolean' } }, allowPositionals: true })
  if (positionals.length !== 1) throw new UsageError('adapter inspect takes one adapter folder or .safetensors file')
  const loaded = readPeftAdapter(positionals[0]!)
  const { module } = loaded
  const weightsPath = positionals[0]!.endsWith('.safetensors') ? positionals[0]! : join(loaded.path, ADAPTER_WEIGHTS)
  const dtypes = [...new Set(decodeSafetensors(readFileSync(weightsPath), { source: weightsPath }).dtypes.values())].sort()
  const info = {
    path: loaded.path,
    cid: moduleCid(module),
    baseModel: module.config.baseModel,
    rank: module.config.r,
    alpha: module.config.loraAlpha,
    targets: module.config.targetModules,
    layers: module.layers.size,
    tensors: module.layers.size * 2 + module.heads.size,
    parameters: parameterCount(module),
    dtypes,
    heads: [...module.heads].map(([name, t]) => ({ name, shape: t.shape })),
    headCid: headCid(module) ?? null
  }
  if (values.json === true) { console.log(JSON.stringify(info, null, 2)); return }
  const targets = typeof info.targets === 'string' ? `/${info.targets}/` : info.targets.join(', ')
  console.log([
    `adapter     ${info.path}`,
    `module CID  ${info.cid}`,
    `base model  ${info.baseModel || '(not set)'}`,
    `targets     ${targets}`,
    `rank        ${info.rank}    alpha ${info.alpha}`,
    `LoRA layers ${info.layers}    tensors ${info.tensors}    parameters ${info.parameters.toLocaleString('en-US')}    stored as ${dtypes.join(', ')}`,
    `task head   ${info.heads.length === 0 ? 'none' : `${info.heads.map(h => `${h.name} [${h.shape.join(', ')}]`).join(', ')}  (CID ${info.headCid})`}`
  ].join('\n'))
}

export async function adapterMerge (args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      method: { type: 'string' },
      out: { type: 'string' },
      weights: { type: 'string' },
      density: { type: 'string' },
      'majority-sign': { type: 'string' },
      combine: { type: 'string' },
      json: { type: 'boolean' }
    }
  })
  const name = values.method
  if (name === undefined || !(DATA_FREE_METHODS as readonly string[]).includes(name)) {
    throw new UsageError(`--method must be one of ${DATA_FREE_METHODS.join(', ')} (the searched methods need distilled data and run inside the daemon)`)
  }
  if (values.out === undefined) throw new UsageError('--out DIR is required')
  if (positionals.length === 0) throw new UsageError('give at least one adapter to merge')
  let weights: number[] | undefined
  if (values.weights !== undefined) {
    weights = values.weights.split(',').map(w => Number(w.trim()))
    if (weights.length !== positionals.length || weights.some(w => !Number.isFinite(w))) {
      throw new UsageError(`--weights needs ${positionals.length} numbers (one per input), got "${values.weights}"`)
    }
  }
  const density = values.density === undefined ? undefined : Number(values.density)
  if (density !== undefined && !(density > 0 && density <= 1)) throw new UsageError(`--density must be a number in (0, 1], got "${values.density}"`)
  const weighting = weights === undefined ? undefined : 'given' as const
  const majoritySign = values['majority-sign'] as SignMethod | undefined
  const method = { name, weighting, density, majoritySign, combine: values.combine } as MergeMethod
  const inputs: MergeInput[] = positionals.map((path, i) => ({
    module: readPeftAdapter(path).module,
    height: 0,
    label: path,
    ...(weights === undefined ? {} : { weight: weights[i]! })
  }))
  const result = await mergeModules(inputs, method)
  writeComposite(values.out, result)
  if (values.json === true) {
    console.log(JSON.stringify({ stateRoot: result.stateRoot, out: values.out, method: result.method, inputs: result.inputs.map(i => ({ cid: i.cid, path: i.label })) }, null, 2))
    return
  }
  console.log(`merged ${result.inputs.length} adapters with ${result.method.name} into ${values.out}`)
  console.log(`state root ${result.stateRoot}`)
}
