// Regenerates merge-core's test fixtures and golden values. Run only when a rule in
// DETERMINISM.md changes on purpose (and bump ENGINE_VERSION): the tests compare against the
// committed output, so an accidental change in any hash fails them.
//   node scripts/make-merge-fixtures.ts
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ToyModel, f32ToF16, mergeModules, moduleCid, headCid, writePeftAdapter } from '@medforge/merge-core'
import type { MergeMethod } from '@medforge/merge-core'
import { toyInputs } from '../packages/merge-core/test/toy-inputs.ts'

const root = join(import.meta.dirname, '..', 'packages', 'merge-core', 'test', 'fixtures')
mkdirSync(root, { recursive: true })

// 1. Toy modules as PEFT folders, the inputs of the CLI tests.
const model = new ToyModel()
const inputs = toyInputs(model)
inputs.forEach((input, i) => writePeftAdapter(join(root, 'toy', `site-${i}`), input.module))

// 2. An adapter laid out the way Python PEFT + safetensors write one: F16, tensors packed in
//    dtype/name order by the Rust writer, `{"format":"pt"}` metadata, PEFT's full config.
const peftDir = join(root, 'peft-style')
mkdirSync(peftDir, { recursive: true })
const layerNames = ['vision_model.encoder.layers.0.self_attn.q_proj', 'vision_model.encoder.layers.0.self_attn.v_proj']
const tensors: Array<[string, number[], number[]]> = []
let v = 0
const next = (): number => { v = (v * 37 + 11) % 101; return (v - 50) / 256 }
for (const layer of layerNames) {
  tensors.push([`base_model.model.${layer}.lora_A.weight`, [4, 6], Array.from({ length: 24 }, next)])
  tensors.push([`base_model.model.${layer}.lora_B.weight`, [6, 4], Array.from({ length: 24 }, next)])
}
tensors.push(['base_model.model.classifier.bias', [2], [0.125, -0.125]])
tensors.push(['base_model.model.classifier.weight', [2, 6], Array.from({ length: 12 }, next)])
// Deliberately not in name order, with a header key order that differs from ours.
const order = [4, 5, 0, 1, 2, 3]
const header: Record<string, unknown> = { __metadata__: { format: 'pt' } }
const chunks: Buffer[] = []
let offset = 0
for (const idx of order) {
  const [name, shape, values] = tensors[idx]!
  const bytes = Buffer.alloc(values.length * 2)
  values.forEach((x, j) => bytes.writeUInt16LE(f32ToF16(x), j * 2))
  header[name] = { dtype: 'F16', shape, data_offsets: [offset, offset + bytes.length] }
  chunks.push(bytes)
  offset += bytes.length
}
let headerText = JSON.stringify(header)
headerText += ' '.repeat((8 - (Buffer.byteLength(headerText) % 8)) % 8)
const lengthPrefix = Buffer.alloc(8)
lengthPrefix.writeBigUInt64LE(BigInt(Buffer.byteLength(headerText)))
writeFileSync(join(peftDir, 'adapter_model.safetensors'), Buffer.concat([lengthPrefix, Buffer.from(headerText), ...chunks]))
writeFileSync(join(peftDir, 'adapter_config.json'), JSON.stringify({
  alpha_pattern: {},
  auto_mapping: { base_model_class: 'CLIPVisionModel', parent_library: 'transformers.models.clip.modeling_clip' },
  base_model_name_or_path: 'openai/clip-vit-base-patch16',
  bias: 'none',
  eva_config: null,
  exclude_modules: null,
  fan_in_fan_out: false,
  inference_mode: true,
  init_lora_weights: true,
  layer_replication: null,
  layers_pattern: null,
  layers_to_transform: null,
  loftq_config: {},
  lora_alpha: 8,
  lora_bias: false,
  lora_dropout: 0.1,
  megatron_config: null,
  megatron_core: 'megatron.core',
  modules_to_save: ['classifier'],
  peft_type: 'LORA',
  r: 4,
  rank_pattern: {},
  revision: null,
  target_modules: ['v_proj', 'q_proj'],
  task_type: null,
  use_dora: false,
  use_rslora: false
}, null, 2))

// 3. Golden values: module CIDs and the state root of every method on the toy inputs.
const methods: MergeMethod[] = [
  { name: 'linear' },
  { name: 'linear', weighting: 'samples' },
  { name: 'task-arithmetic' },
  { name: 'ties', density: 0.5 },
  { name: 'dare', density: 0.7 },
  { name: 'dare', density: 0.7, combine: 'ties' },
  { name: 'medforge-fusion' },
  { name: 'medforge-fusion-product' },
  { name: 'medforge-mixture' },
  { name: 'medforge-regmean' },
  { name: 'medforge-regmean', shrink: 1, balance: 'module' }
]
const golden: Record<string, unknown> = {
  moduleCids: inputs.map(i => moduleCid(i.module)),
  headCids: inputs.map(i => headCid(i.module)),
  stateRoots: {} as Record<string, string>
}
for (const method of methods) {
  const result = await mergeModules(inputs, method, { evaluator: model.evaluator() })
  ;(golden.stateRoots as Record<string, string>)[JSON.stringify(method)] = result.stateRoot
}
writeFileSync(join(root, 'golden.json'), JSON.stringify(golden, null, 2) + '\n')
console.log(`wrote fixtures under ${root}`)
