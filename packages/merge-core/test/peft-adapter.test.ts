import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, cpSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { InvalidAdapterError, decodeSafetensors, encodeSafetensors, headCid, moduleCid, parameterCount, readPeftAdapter, writePeftAdapter } from '../src/index.ts'
import { parseLoraConfig } from '../src/lora-config.ts'
import { loraModuleFromTensors, moduleTensors } from '../src/lora-module.ts'
import type { F32Tensor } from '../src/index.ts'

const fixtures = join(import.meta.dirname, 'fixtures')
const tmp = (): string => mkdtempSync(join(tmpdir(), 'medforge-adapter-'))

describe('PEFT adapters', () => {
  it('imports an adapter laid out as Python PEFT writes it (F16, foreign tensor order, modules_to_save head)', () => {
    const { module, metadata } = readPeftAdapter(join(fixtures, 'peft-style'))
    assert.equal(metadata.format, 'pt')
    assert.deepEqual([...module.layers.keys()], [
      'base_model.model.vision_model.encoder.layers.0.self_attn.q_proj',
      'base_model.model.vision_model.encoder.layers.0.self_attn.v_proj'
    ])
    assert.deepEqual([...module.heads.keys()], ['base_model.model.classifier.bias', 'base_model.model.classifier.weight'])
    const q = module.layers.get('base_model.model.vision_model.encoder.layers.0.self_attn.q_proj')!
    assert.deepEqual(q.A.shape, [4, 6])
    assert.deepEqual(q.B.shape, [6, 4])
    assert.equal(module.config.r, 4)
    assert.equal(module.config.loraAlpha, 8)
    assert.deepEqual(module.config.targetModules, ['q_proj', 'v_proj'])
    assert.equal(module.config.baseModel, 'openai/clip-vit-base-patch16')
    assert.equal(parameterCount(module), 96)
  })

  it('exports what PEFT loads: same keys, shapes, F32 dtype and every config field kept', () => {
    const dir = tmp()
    const { module } = readPeftAdapter(join(fixtures, 'peft-style'))
    writePeftAdapter(dir, module)
    const original = JSON.parse(readFileSync(join(fixtures, 'peft-style', 'adapter_config.json'), 'utf8'))
    const written = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'))
    assert.deepEqual(written, original)
    assert.deepEqual(Object.keys(written), Object.keys(written).sort(), 'keys sorted as PEFT writes them')
    const file = decodeSafetensors(readFileSync(join(dir, 'adapter_model.safetensors')))
    const source = decodeSafetensors(readFileSync(join(fixtures, 'peft-style', 'adapter_model.safetensors')))
    assert.deepEqual([...file.tensors.keys()].sort(), [...source.tensors.keys()].sort())
    for (const [k, t] of source.tensors) {
      assert.deepEqual(file.tensors.get(k)!.shape, t.shape)
      assert.deepEqual(file.tensors.get(k)!.data, t.data)
      assert.equal(file.dtypes.get(k), 'F32')
    }
    assert.equal(file.metadata.format, 'pt')
    rmSync(dir, { recursive: true })
  })

  it('gives the same CID to the same adapter saved twice, in another dtype-exact form, or with keys in another order', () => {
    const a = readPeftAdapter(join(fixtures, 'peft-style')).module
    const dir = tmp()
    writePeftAdapter(dir, a)
    const b = readPeftAdapter(dir).module
    assert.equal(moduleCid(b), moduleCid(a))
    assert.equal(headCid(b), headCid(a))
    // the same tensors, inserted in reverse order and with the adapter name still in the keys
    const reversed = new Map<string, F32Tensor>([...moduleTensors(a)].reverse().map(([k, t]) => [k.replace(/\.lora_([AB])\.weight$/, '.lora_$1.default.weight'), t]))
    const c = loraModuleFromTensors(a.config, reversed, 'reversed')
    assert.equal(moduleCid(c), moduleCid(a))
    // config fields that do not change the computation do not change the identity
    const relabelled = loraModuleFromTensors(parseLoraConfig({ ...a.config.raw, lora_dropout: 0.3, inference_mode: false }, 'x'), moduleTensors(a), 'x')
    assert.equal(moduleCid(relabelled), moduleCid(a))
    // ...but ones that do, do
    const rescaled = loraModuleFromTensors(parseLoraConfig({ ...a.config.raw, lora_alpha: 16 }, 'x'), moduleTensors(a), 'x')
    assert.notEqual(moduleCid(rescaled), moduleCid(a))
    rmSync(dir, { recursive: true })
  })

  it('property: a change to any single LoRA element changes the CID', () => {
    const a = readPeftAdapter(join(fixtures, 'peft-style')).module
    const base = moduleCid(a)
    const tensors = moduleTensors(a, false)
    const names = [...tensors.keys()]
    fc.assert(fc.property(fc.nat(names.length - 1), fc.nat(23), fc.float({ noNaN: true, noDefaultInfinity: true }), (ni, ei, value) => {
      const name = names[ni]!
      const t = tensors.get(name)!
      fc.pre(!Object.is(Math.fround(value), t.data[ei]) && !(value === 0 && t.data[ei] === 0))
      const data = Float32Array.from(t.data); data[ei] = value
      const changed = new Map(moduleTensors(a)); changed.set(name, { shape: t.shape, data })
      assert.notEqual(moduleCid(loraModuleFromTensors(a.config, changed, 'x')), base)
    }), { numRuns: 100 })
  })

  it('refuses broken adapters with errors naming the file and the problem', () => {
    const dir = tmp()
    cpSync(join(fixtures, 'peft-style'), join(dir, 'a'), { recursive: true })
    const configPath = join(dir, 'a', 'adapter_config.json')
    const config = JSON.parse(readFileSync(configPath, 'utf8'))
    const expect = (pattern: RegExp): void => assert.throws(() => readPeftAdapter(join(dir, 'a')), (err: unknown) =>
      err instanceof Error && (err.name === 'InvalidAdapterError' || err.name === 'InvalidSafetensorsError') && pattern.test(err.message))
    writeFileSync(configPath, JSON.stringify({ ...config, peft_type: 'IA3' })); expect(/peft_type is "IA3"/)
    writeFileSync(configPath, JSON.stringify({ ...config, use_dora: true })); expect(/use_dora/)
    writeFileSync(configPath, JSON.stringify({ ...config, r: 0 })); expect(/r must be a positive integer/)
    writeFileSync(configPath, JSON.stringify({ ...config, r: 8 })); expect(/first dimension must be the rank 8/)
    writeFileSync(configPath, JSON.stringify({ ...config, target_modules: [] })); expect(/target_modules/)
    writeFileSync(configPath, '{ not json'); expect(/adapter_config\.json: invalid PEFT LoRA adapter: not valid JSON/)
    writeFileSync(configPath, JSON.stringify(config))
    // a lora_A without its lora_B
    const weights = join(dir, 'a', 'adapter_model.safetensors')
    const file = decodeSafetensors(readFileSync(weights))
    const tensors = new Map(file.tensors)
    tensors.delete('base_model.model.vision_model.encoder.layers.0.self_attn.v_proj.lora_B.weight')
    writeFileSync(weights, encodeSafetensors(tensors))
    expect(/v_proj" has lora_A but no lora_B/)
    writeFileSync(weights, new Uint8Array(4)); expect(/adapter_model\.safetensors: invalid safetensors/)
    rmSync(weights)
    writeFileSync(join(dir, 'a', 'adapter_model.bin'), 'pickle')
    expect(/safe_serialization=True/)
    assert.throws(() => readPeftAdapter(join(dir, 'missing')), InvalidAdapterError)
    mkdirSync(join(dir, 'empty'))
    assert.throws(() => readPeftAdapter(join(dir, 'empty')), /missing adapter_model\.safetensors/)
    rmSync(dir, { recursive: true })
  })
})
