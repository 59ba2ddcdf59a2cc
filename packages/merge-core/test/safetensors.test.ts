import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { createHash } from 'node:crypto'
import { InvalidSafetensorsError, decodeSafetensors, encodeSafetensors, f32ToF16 } from '../src/index.ts'
import { f16ToF32, bf16ToF32, f32ToBf16 } from '../src/float16.ts'
import type { F32Tensor } from '../src/index.ts'

function file (header: Record<string, unknown>, data: Uint8Array, headerText?: string): Uint8Array {
  const text = Buffer.from(headerText ?? JSON.stringify(header))
  const out = Buffer.alloc(8 + text.length + data.length)
  out.writeBigUInt64LE(BigInt(text.length))
  text.copy(out, 8)
  out.set(data, 8 + text.length)
  return out
}

function expectInvalid (bytes: Uint8Array, pattern: RegExp, tensor?: string): void {
  assert.throws(() => decodeSafetensors(bytes, { source: 'x.safetensors' }), (err: unknown) => {
    assert.ok(err instanceof InvalidSafetensorsError, `expected InvalidSafetensorsError, got ${String(err)}`)
    assert.equal(err.code, 'ERR_INVALID_SAFETENSORS')
    assert.match(err.message, /^x\.safetensors: /)
    assert.match(err.message, pattern)
    assert.equal(err.tensor, tensor)
    return true
  })
}

describe('safetensors', () => {
  it('encodes canonically: golden bytes', () => {
    const tensors = new Map<string, F32Tensor>([
      ['b', { shape: [2], data: Float32Array.from([1, -2]) }],
      ['a', { shape: [1, 1], data: Float32Array.from([0.5]) }]
    ])
    const bytes = encodeSafetensors(tensors, { metadata: { format: 'pt' } })
    const header = '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}'
    const padded = header + ' '.repeat((8 - (header.length % 8)) % 8)
    assert.equal(Buffer.from(bytes.subarray(8, 8 + padded.length)).toString(), padded)
    assert.equal(Buffer.from(bytes).readBigUInt64LE(0), BigInt(padded.length))
    assert.equal(createHash('sha256').update(bytes).digest('hex'), '69568ef9e9153c42972d38660820bd0be43d8240a6ff91acdbe7bfa816812ab3')
    assert.deepEqual([...bytes.subarray(8 + padded.length)], [0, 0, 0, 63, 0, 0, 128, 63, 0, 0, 0, 192])
  })

  it('round-trips F32, F16 and BF16', () => {
    const data = Float32Array.from([0, 1, -1, 0.5, 65504, 1e-3, -3.25])
    const tensors = new Map([['t', { shape: [7], data }]])
    assert.deepEqual(decodeSafetensors(encodeSafetensors(tensors)).tensors.get('t')!.data, data)
    const f16 = decodeSafetensors(encodeSafetensors(tensors, { dtype: 'F16' }))
    assert.equal(f16.dtypes.get('t'), 'F16')
    assert.deepEqual([...f16.tensors.get('t')!.data], [...data].map(x => f16ToF32(f32ToF16(x))))
    const bf16 = decodeSafetensors(encodeSafetensors(tensors, { dtype: 'BF16' }))
    assert.deepEqual([...bf16.tensors.get('t')!.data], [...data].map(x => bf16ToF32(f32ToBf16(x))))
  })

  it('converts 16-bit floats exactly at known points', () => {
    assert.equal(f16ToF32(0x3c00), 1)
    assert.equal(f16ToF32(0xc000), -2)
    assert.equal(f16ToF32(0x7bff), 65504)
    assert.equal(f16ToF32(0x0001), 2 ** -24)
    assert.equal(f16ToF32(0x7c00), Infinity)
    assert.equal(f32ToF16(1 + 2 ** -11), 0x3c00) // tie rounds to even
    assert.equal(f32ToF16(1 + 3 * 2 ** -11), 0x3c02)
    assert.equal(f32ToF16(70000), 0x7c00)
    assert.equal(bf16ToF32(0x3f80), 1)
    assert.equal(f32ToBf16(1), 0x3f80)
  })

  it('refuses each malformed layout with a typed error naming the tensor', () => {
    const four = new Uint8Array(4)
    expectInvalid(new Uint8Array(3), /shorter than the 8-byte header length/)
    const huge = Buffer.alloc(16); huge.writeBigUInt64LE(2n ** 40n); huge[8] = 0x7b
    expectInvalid(huge, /exceeds the limit/)
    const past = Buffer.alloc(16); past.writeBigUInt64LE(100n); past[8] = 0x7b
    expectInvalid(past, /runs past the end/)
    expectInvalid(new TextEncoder().encode('{"peft_type": "LORA", "r": 4} is a config, not weights'), /not a safetensors file: its first 8 bytes give a header length of \d+, and no JSON header follows/)
    expectInvalid(file({}, four, '[1,2]  '), /does not start with/)
    expectInvalid(file({}, four, '{"a":  '), /not valid JSON/)
    expectInvalid(file({}, new Uint8Array(8), '{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'), /more than once/, 't')
    expectInvalid(file({ t: { dtype: 'I8', shape: [4], data_offsets: [0, 4] } }, four), /I8 is not supported/, 't')
    expectInvalid(file({ t: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, four), /needs 8/, 't')
    expectInvalid(file({ t: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, four), /non-negative integers/, 't')
    expectInvalid(file({ t: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, four), /end before they begin/, 't')
    expectInvalid(file({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), /overlap/, 'b')
    expectInvalid(file({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), /gap/, 'a')
    expectInvalid(file({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, four), /run past/, 'a')
    expectInvalid(file({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(8)), /cover 4/)
    expectInvalid(file({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4], extra: 1 } }, four), /unexpected field/, 'a')
    expectInvalid(file({ __metadata__: { k: 1 } }, new Uint8Array(0)), /not a string/)
    const nan = new Uint8Array(new Float32Array([1, NaN]).buffer)
    expectInvalid(file({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, nan), /element 1 is NaN/, 'w')
    const inf = new Uint8Array(new Float32Array([Infinity]).buffer)
    expectInvalid(file({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, inf), /Infinity/, 'w')
  })

  it('accepts a header padded with spaces and an empty file of tensors', () => {
    const parsed = decodeSafetensors(file({}, new Uint8Array(0), '{}      '))
    assert.equal(parsed.tensors.size, 0)
  })

  it('property: random tensors round-trip exactly through F32', () => {
    fc.assert(fc.property(
      fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }).filter(s => s !== '__metadata__'),
        fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { maxLength: 20 }), { maxKeys: 6 }),
      (dict) => {
        const tensors = new Map(Object.entries(dict).map(([k, v]) => [k, { shape: [v.length], data: Float32Array.from(v) }]))
        const back = decodeSafetensors(encodeSafetensors(tensors))
        assert.equal(back.tensors.size, tensors.size)
        for (const [k, t] of tensors) assert.deepEqual(back.tensors.get(k)!.data, t.data)
      }), { numRuns: 200 })
  })

  it('property: the decoder never throws anything but InvalidSafetensorsError', () => {
    const valid = encodeSafetensors(new Map([['w', { shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) }]]))
    fc.assert(fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 200 }),
        // mutations of a valid file: flipped bytes and truncations
        fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 }), fc.nat(valid.length)).map(([at, byte, cut]) => {
          const b = Uint8Array.from(valid); b[at] = byte; return b.subarray(0, Math.max(cut, at + 1))
        })
      ),
      (bytes) => {
        try {
          decodeSafetensors(bytes)
        } catch (err) {
          assert.ok(err instanceof InvalidSafetensorsError, String(err))
        }
      }), { numRuns: 2000 })
  })
})
