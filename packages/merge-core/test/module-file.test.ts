// The single-file module blob and the distilled-set file: canonical bytes (golden CIDs), exact
// round trips, and decoders that refuse anything else with a typed error naming the source.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { InvalidAdapterError, InvalidDistilledSetError, InvalidSafetensorsError, ToyModel, cidOfBytes, decodeDistilledSet, decodeModuleFile, encodeDistilledSet, encodeModuleFile, encodeSafetensors, moduleCid, moduleFileAuthor, headCid } from '../src/index.ts'
import type { DistilledSet } from '../src/index.ts'

const model = new ToyModel()
const module = model.train('a', model.makeData('a', 24, 'golden'), { epochs: 10, seed: 'golden' })
const data = model.makeData('a', 6, 'golden-distilled')
const distilled: DistilledSet = { task: 'a', inputs: { shape: [6, model.spec.inputs], data: data.x }, labels: data.y }

// Regenerate only for a deliberate format change (and bump medforge-module/vN or medforge-distilled/vN).
const GOLDEN = {
  moduleFile: 'bafkreigzjze32s4peaniddoa6i5ilgjbqv362fppayjd7gzzlelhyh4p3i',
  authoredModuleFile: 'bafkreigagr6omfawaqegbpozuyasuyznwq2dnn5iwgffsa4gkxg5cwxafy',
  authoredModule: 'bafkreibo4ntca3w2eenyn4j3j6fniwt53twuuikrhassedx6wnhzf7zhw4',
  distilledFile: 'bafkreigcafm7si3pzy53qup4iyvcx72qffcaskki5nwgwn4cswchxg6wly'
}

const typed = (err: unknown): boolean => err instanceof InvalidSafetensorsError || err instanceof InvalidAdapterError || err instanceof InvalidDistilledSetError

/** A module file whose config carries `extra` (what a hostile peer controls), with one layer named `layer`. */
function hostileFile (extra: Record<string, unknown>, layer = 'base_model.model.encoder'): Uint8Array {
  const config = JSON.stringify({ peft_type: 'LORA', r: 2, lora_alpha: 4, target_modules: ['encoder'], ...extra })
  return encodeSafetensors(new Map([
    [`${layer}.lora_A.weight`, { shape: [2, 8], data: new Float32Array(16) }],
    [`${layer}.lora_B.weight`, { shape: [6, 2], data: new Float32Array(12) }]
  ]), { metadata: { 'medforge.format': 'medforge-module/v1', 'medforge.lora_config': config } })
}

describe('module file from the network', () => {
  it('names its author, and the author is part of the module\'s identity (golden bytes)', () => {
    const author = '12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf'
    const authored = { ...module, author }
    const bytes = encodeModuleFile(authored)
    assert.equal(cidOfBytes(bytes), GOLDEN.authoredModuleFile)
    assert.equal(moduleCid(authored), GOLDEN.authoredModule)
    assert.notEqual(moduleCid(authored), moduleCid(module), 'another author, another module CID')
    assert.notEqual(moduleCid({ ...module, author: `${author}x` }), moduleCid(authored))
    assert.equal(moduleFileAuthor(bytes, 'f'), author, 'read from the header alone')
    assert.equal(moduleFileAuthor(encodeModuleFile(module), 'f'), undefined)
    const back = decodeModuleFile(bytes, 'f')
    assert.deepEqual([back.author, moduleCid(back)], [author, moduleCid(authored)])
    assert.throws(() => decodeModuleFile(encodeModuleFile({ ...module, author: 'p'.repeat(200) }), 'blob v'), (err: unknown) => err instanceof InvalidAdapterError && /blob v.*medforge.author must be 1 to 128 characters/.test(err.message))
    assert.throws(() => moduleFileAuthor(new Uint8Array(4), 'blob u'), (err: unknown) => err instanceof InvalidSafetensorsError && /blob u/.test(err.message))
  })

  it('refuses regex patterns before matching anything: a catastrophic rank_pattern costs nothing', () => {
    const t0 = performance.now()
    assert.throws(() => decodeModuleFile(hostileFile({ rank_pattern: { '(a+)+b': 2 } }, 'a'.repeat(40)), 'blob x'), (err: unknown) => err instanceof InvalidAdapterError && /blob x.*rank_pattern is not allowed/.test(err.message))
    assert.ok(performance.now() - t0 < 1000, 'refused without running the pattern')
    assert.throws(() => decodeModuleFile(hostileFile({ alpha_pattern: { '(a|a)*$': 4 } }), 'blob y'), /alpha_pattern is not allowed/)
    assert.throws(() => decodeModuleFile(hostileFile({ target_modules: '.*(encoder)+' }), 'blob z'), /not a regular expression/)
    assert.throws(() => decodeModuleFile(hostileFile({}, 'x'.repeat(600)), 'blob w'), /tensor name of 6\d\d characters/)
    assert.ok(decodeModuleFile(hostileFile({}), 'fine').layers.size === 1, 'the same file without them decodes')
  })
})

describe('module file', () => {
  it('encodes canonically (golden CID) and decodes to the same module', () => {
    const bytes = encodeModuleFile(module)
    assert.equal(cidOfBytes(bytes), GOLDEN.moduleFile)
    const back = decodeModuleFile(bytes, 'golden')
    assert.equal(moduleCid(back), moduleCid(module))
    assert.equal(headCid(back), headCid(module))
    assert.deepEqual(encodeModuleFile(back), bytes, 're-encoding gives the same bytes')
  })

  it('refuses a plain safetensors file and a missing config, naming the source', () => {
    const plain = encodeSafetensors(new Map([['x', { shape: [1], data: Float32Array.of(1) }]]))
    assert.throws(() => decodeModuleFile(plain, 'blob X'), (err: Error) => err instanceof InvalidAdapterError && /blob X/.test(err.message) && /medforge\.format/.test(err.message))
    const noConfig = encodeSafetensors(new Map([['x', { shape: [1], data: Float32Array.of(1) }]]), { metadata: { 'medforge.format': 'medforge-module/v1' } })
    assert.throws(() => decodeModuleFile(noConfig, 'blob Y'), /medforge\.lora_config/)
  })

  it('mutated bytes give only typed errors', () => {
    const bytes = encodeModuleFile(module)
    fc.assert(fc.property(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(), (at, v, cut) => {
      const b = Uint8Array.from(bytes); b[at % b.length] = v
      try { decodeModuleFile(b.subarray(0, Math.max(1, cut % (b.length + 1))), 'fuzz') } catch (err) { assert.ok(typed(err), String(err)) }
    }), { numRuns: 1000 })
  })
})

describe('distilled set file', () => {
  it('encodes canonically (golden CID) and round-trips', () => {
    const bytes = encodeDistilledSet(distilled)
    assert.equal(cidOfBytes(bytes), GOLDEN.distilledFile)
    const back = decodeDistilledSet(bytes, 'golden', { classes: 2, featureShape: [model.spec.inputs] })
    assert.equal(back.task, 'a')
    assert.deepEqual(back.labels, distilled.labels)
    assert.deepEqual(back.inputs.data, distilled.inputs.data)
  })

  it('refuses labels out of range, wrong feature shapes and extra tensors', () => {
    const bytes = encodeDistilledSet(distilled)
    assert.throws(() => decodeDistilledSet(bytes, 'd', { classes: 1 }), /label \d+ is 1, not a class index below 1/)
    assert.throws(() => decodeDistilledSet(bytes, 'd', { classes: 2, featureShape: [3] }), /shape \[8\], the model takes \[3\]/)
    const extra = encodeSafetensors(new Map([['inputs', distilled.inputs], ['labels', { shape: [6], data: Float32Array.from(distilled.labels) }], ['z', { shape: [1], data: Float32Array.of(0) }]]),
      { metadata: { 'medforge.format': 'medforge-distilled/v1', 'medforge.task': 'a' } })
    assert.throws(() => decodeDistilledSet(extra, 'd', { classes: 2 }), InvalidDistilledSetError)
    const fractional = encodeSafetensors(new Map([['inputs', distilled.inputs], ['labels', { shape: [6], data: Float32Array.of(0, 1, 0.5, 1, 0, 1) }]]),
      { metadata: { 'medforge.format': 'medforge-distilled/v1', 'medforge.task': 'a' } })
    assert.throws(() => decodeDistilledSet(fractional, 'd', { classes: 2 }), /label 2 is 0.5/)
  })

  it('mutated bytes give only typed errors', () => {
    const bytes = encodeDistilledSet(distilled)
    fc.assert(fc.property(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(), (at, v, cut) => {
      const b = Uint8Array.from(bytes); b[at % b.length] = v
      try { decodeDistilledSet(b.subarray(0, Math.max(1, cut % (b.length + 1))), 'fuzz', { classes: 2 }) } catch (err) { assert.ok(typed(err), String(err)) }
    }), { numRuns: 1000 })
  })
})
