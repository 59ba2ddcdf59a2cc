// What the daemon needs from a network's base model: the shapes a module must have, how to read a
// contributor's distilled set, and the loss the searched merges use. One entry per architecture
// named in manifests; the weights CID in the manifest must match the model this build has.
import { TOY_HEAD_BIAS, TOY_HEAD_WEIGHT, TOY_LAYER, ToyModel, cidOfBytes, decodeDistilledSet, formatShape, identityConfig, loraScaling, sameShape } from '@medforge/merge-core'
import { HEAD_BIAS, HEAD_WEIGHT, VIT_ARCHITECTURE, loadBaseWeights, loraLayers, vitEvaluator } from '@medforge/clinical'
import type { CandidateEvaluator, F32Tensor, LoraModule, ToyData } from '@medforge/merge-core'
import { MAX_MODULE_VALUE } from '@medforge/protocol'
import type { ManifestBody, TaskSpec } from '@medforge/protocol'
import { InvalidModuleError, NotJoinedError } from '../errors.ts'

export interface NetworkModel {
  readonly architecture: string
  readonly weights: string
  /** Throws InvalidModuleError when the module does not fit the model or the network's LoRA policy. */
  checkModule (module: LoraModule, task: TaskSpec, where: string): void
  /**
   * Decodes and checks a distilled set for `task` (throws with the reason): the merge's context,
   * and the input statistics of the network's LoRA layers when the set carries them.
   */
  decodeDistilled (bytes: Uint8Array, task: TaskSpec, where: string): DistilledContext
  evaluator (): CandidateEvaluator<unknown>
}

export interface DistilledContext { readonly context: unknown, readonly inputGrams?: ReadonlyMap<string, F32Tensor> }

export const TOY_ARCHITECTURE = 'toy-logistic/v1'

/** The toy model's weights CID: the hash of its frozen encoder (binary32, little-endian). */
export function toyWeightsCid (model = new ToyModel()): string {
  return cidOfBytes(new Uint8Array(model.w0.buffer, model.w0.byteOffset, model.w0.byteLength))
}

/** The LoRA policy every module must follow, whatever the model. */
export function checkLoraPolicy (module: LoraModule, manifest: ManifestBody, where: string): void {
  const cfg = identityConfig(module.config)
  const fail = (detail: string): never => { throw new InvalidModuleError(where, detail) }
  if (module.config.r !== manifest.lora.rank) fail(`rank is ${module.config.r}, the network's policy is ${manifest.lora.rank}`)
  if (Math.fround(loraScaling(module.config)) !== Math.fround(manifest.lora.alpha / manifest.lora.rank)) {
    fail(`LoRA scaling is ${loraScaling(module.config)}, the network's policy is alpha ${manifest.lora.alpha} / rank ${manifest.lora.rank}`)
  }
  const targets = JSON.stringify([...(cfg.target_modules as string[] ?? [])].sort())
  if (targets !== JSON.stringify([...manifest.lora.targets].sort())) fail(`target_modules are ${targets}, the network's policy is ${JSON.stringify(manifest.lora.targets)}`)
  for (const [layer, { A, B }] of module.layers) {
    for (const [name, t] of [['lora_A', A], ['lora_B', B]] as const) checkValues(t.data, `${where}: ${name} of layer ${layer}`)
  }
}

/** Every value finite and within the protocol's bound (MAX_MODULE_VALUE), or the module is refused. */
export function checkValues (data: Float32Array, where: string): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!
    if (!Number.isFinite(v)) throw new InvalidModuleError(where, `value ${i} is not finite (${v})`, 'malformed')
    if (Math.abs(v) > MAX_MODULE_VALUE) throw new InvalidModuleError(where, `value ${i} is ${v}, beyond the network's bound of ±${MAX_MODULE_VALUE}`, 'malformed')
  }
}

function toyModel (weights: string): NetworkModel {
  const model = new ToyModel()
  const { inputs, hidden, rank } = model.spec
  return {
    architecture: TOY_ARCHITECTURE,
    weights,
    checkModule (module, task, where) {
      const fail = (detail: string): never => { throw new InvalidModuleError(where, detail) }
      const layers = [...module.layers.keys()]
      if (layers.length !== 1 || layers[0] !== TOY_LAYER) fail(`layers are [${layers.join(', ')}], the model has exactly ${TOY_LAYER}`)
      const pair = module.layers.get(TOY_LAYER)!
      if (!sameShape(pair.A.shape, [rank, inputs]) || !sameShape(pair.B.shape, [hidden, rank])) {
        fail(`lora_A ${formatShape(pair.A.shape)} / lora_B ${formatShape(pair.B.shape)}, the model needs [${rank}, ${inputs}] / [${hidden}, ${rank}]`)
      }
      const classes = task.labels.length
      const w = module.heads.get(TOY_HEAD_WEIGHT)
      const b = module.heads.get(TOY_HEAD_BIAS)
      if (w === undefined || b === undefined || module.heads.size !== 2) fail(`the task head must be exactly ${TOY_HEAD_WEIGHT} and ${TOY_HEAD_BIAS}`)
      if (!sameShape(w!.shape, [classes, hidden]) || !sameShape(b!.shape, [classes])) {
        fail(`head is ${formatShape(w!.shape)} + ${formatShape(b!.shape)}, task "${task.id}" needs [${classes}, ${hidden}] + [${classes}]`)
      }
      for (const t of [w!, b!]) checkValues(t.data, `${where}: task head`)
    },
    decodeDistilled (bytes, task, where) {
      const set = decodeDistilledSet(bytes, where, { classes: task.labels.length, featureShape: [inputs] })
      if (set.task !== task.id) throw new InvalidModuleError(where, `distilled set is for task "${set.task}", the module for "${task.id}"`)
      checkValues(set.inputs.data, `${where}: distilled inputs`)
      checkGramLayers(set.inputGrams, [{ name: TOY_LAYER, inFeatures: inputs }], where)
      const context: ToyData = { x: set.inputs.data, y: set.labels }
      return { context, ...(set.inputGrams === undefined ? {} : { inputGrams: set.inputGrams }) }
    },
    evaluator: () => model.evaluator() as CandidateEvaluator<unknown>
  }
}

function vitModel (manifest: ManifestBody): NetworkModel {
  const base = loadBaseWeights()
  const c = base.weights.config
  const expected = loraLayers(c, manifest.lora.targets)
  // Any channel count reaches the model as three channels; the size must be the model's own.
  const wrongSize = manifest.tasks.find(t => t.input !== undefined && t.input.size !== c.imageSize)
  if (wrongSize !== undefined) throw new NotJoinedError(`task "${wrongSize.id}" takes ${wrongSize.input!.size}-pixel images; ${VIT_ARCHITECTURE} takes ${c.imageSize}`)
  const evaluator = vitEvaluator(base)
  return {
    architecture: VIT_ARCHITECTURE,
    weights: base.cid,
    checkModule (module, task, where) {
      const fail = (detail: string): never => { throw new InvalidModuleError(where, detail) }
      const names = [...module.layers.keys()]
      if (names.length !== expected.length || expected.some(l => !module.layers.has(l.name))) {
        const missing = expected.find(l => !module.layers.has(l.name))
        fail(missing !== undefined ? `has no LoRA layer ${missing.name}` : `has LoRA layers beyond the network's targets (${manifest.lora.targets.join(', ')})`)
      }
      for (const l of expected) {
        const pair = module.layers.get(l.name)!
        const r = manifest.lora.rank
        if (!sameShape(pair.A.shape, [r, l.inFeatures]) || !sameShape(pair.B.shape, [l.outFeatures, r])) {
          fail(`${l.name}: lora_A ${formatShape(pair.A.shape)} / lora_B ${formatShape(pair.B.shape)}, the model needs [${r}, ${l.inFeatures}] / [${l.outFeatures}, ${r}]`)
        }
      }
      const classes = task.labels.length
      const w = module.heads.get(HEAD_WEIGHT)
      const b = module.heads.get(HEAD_BIAS)
      if (w === undefined || b === undefined || module.heads.size !== 2) fail(`the task head must be exactly ${HEAD_WEIGHT} and ${HEAD_BIAS}`)
      if (!sameShape(w!.shape, [classes, c.projection]) || !sameShape(b!.shape, [classes])) {
        fail(`head is ${formatShape(w!.shape)} + ${formatShape(b!.shape)}, task "${task.id}" needs [${classes}, ${c.projection}] + [${classes}]`)
      }
      for (const t of [w!, b!]) checkValues(t.data, `${where}: task head`)
    },
    decodeDistilled (bytes, task, where) {
      const set = decodeDistilledSet(bytes, where, { classes: task.labels.length, featureShape: [c.channels, c.imageSize, c.imageSize] })
      if (set.task !== task.id) throw new InvalidModuleError(where, `distilled set is for task "${set.task}", the module for "${task.id}"`)
      checkValues(set.inputs.data, `${where}: distilled inputs`)
      checkGramLayers(set.inputGrams, expected, where)
      return { context: { inputs: set.inputs.data, labels: set.labels }, ...(set.inputGrams === undefined ? {} : { inputGrams: set.inputGrams }) }
    },
    evaluator: () => evaluator as CandidateEvaluator<unknown>
  }
}

/** Input statistics, when present, cover exactly the network's LoRA layers, each [in, in]. */
function checkGramLayers (grams: ReadonlyMap<string, F32Tensor> | undefined, layers: ReadonlyArray<{ name: string, inFeatures: number }>, where: string): void {
  if (grams === undefined) return
  for (const l of layers) {
    const g = grams.get(l.name)
    if (g === undefined) throw new InvalidModuleError(where, `has input statistics but none for ${l.name}`)
    if (!sameShape(g.shape, [l.inFeatures, l.inFeatures])) throw new InvalidModuleError(where, `input statistics of ${l.name} are ${formatShape(g.shape)}, the layer takes ${l.inFeatures} inputs`)
  }
  const extra = [...grams.keys()].find(k => !layers.some(l => l.name === k))
  if (extra !== undefined) throw new InvalidModuleError(where, `has input statistics for ${extra}, not one of the network's LoRA layers`)
}

/** The model a manifest names, if this build has it with the same weights. */
export function modelFor (manifest: ManifestBody): NetworkModel {
  const { architecture, weights } = manifest.baseModel
  if (architecture === VIT_ARCHITECTURE) {
    const ours = loadBaseWeights().cid
    if (weights !== ours) throw new NotJoinedError(`the network's ${architecture} weights are ${weights}; this build has ${ours}`)
    return vitModel(manifest)
  }
  if (architecture === TOY_ARCHITECTURE) {
    const ours = toyWeightsCid()
    if (weights !== ours) throw new NotJoinedError(`the network's ${architecture} weights are ${weights}; this build has ${ours}`)
    return toyModel(weights)
  }
  throw new NotJoinedError(`the network's base model "${architecture}" is not available in this build (known: ${VIT_ARCHITECTURE}, ${TOY_ARCHITECTURE})`)
}
