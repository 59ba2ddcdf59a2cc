// MedMNIST files read directly (zip + npy), institution shards, and the readers' refusals.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { InvalidDatasetError, InvalidNpzError, classCounts, dataDir, encodeNpz, loadSplit, parseNpz, shardIndices } from '../src/index.ts'

describe('npz', () => {
  it('reads the vendored MedMNIST files with the documented shapes and class counts', () => {
    const train = loadSplit('pneumonia', 'train')
    assert.equal(train.count, 4708)
    assert.equal(train.side, 28)
    assert.deepEqual(classCounts(train, 2), [1214, 3494])
    assert.deepEqual(classCounts(loadSplit('pneumonia', 'test'), 2), [234, 390])
    assert.deepEqual(classCounts(loadSplit('breast', 'train'), 2), [147, 399])
    assert.deepEqual(classCounts(loadSplit('breast', 'val'), 2), [21, 57])
  })

  it('round-trips what it writes (stored members, numpy layout)', () => {
    const arrays = parseNpz(encodeNpz(new Map([
      ['a', { dtype: 'u1' as const, shape: [2, 3], data: Uint8Array.of(1, 2, 3, 4, 5, 6) }],
      ['b', { dtype: 'f4' as const, shape: [2], data: Float32Array.of(1.5, -2) }]
    ])), 'mem')
    assert.deepEqual(arrays.get('a')!.shape, [2, 3])
    assert.deepEqual([...arrays.get('a')!.data], [1, 2, 3, 4, 5, 6])
    assert.deepEqual([...arrays.get('b')!.data], [1.5, -2])
  })

  it('refuses corrupt archives with the file and member named', () => {
    const bytes = readFileSync(join(dataDir(), 'breastmnist.npz'))
    assert.throws(() => parseNpz(bytes.subarray(0, 1000), 'cut.npz'), (e: Error) => e instanceof InvalidNpzError && /cut\.npz/.test(e.message))
    const flipped = Uint8Array.from(bytes)
    flipped[200] = flipped[200]! ^ 0xff
    assert.throws(() => parseNpz(flipped, 'flip.npz'), (e: Error) => e instanceof InvalidNpzError && /member .*\.npy/.test(e.message))
    assert.throws(() => parseNpz(new TextEncoder().encode('not a zip at all, sorry'), 'text'), /end-of-central-directory/)
  })

  it('mutated archives give only typed errors', () => {
    const good = encodeNpz(new Map([['x', { dtype: 'u1' as const, shape: [4, 2], data: new Uint8Array(8).fill(7) }]]))
    fc.assert(fc.property(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(), (at, v, cut) => {
      const b = Uint8Array.from(good); b[at % b.length] = v
      try { parseNpz(b.subarray(0, Math.max(1, cut % (b.length + 1))), 'fuzz') } catch (e) { assert.ok(e instanceof InvalidNpzError, String(e)) }
    }), { numRuns: 2000 })
  })
})

describe('shards', () => {
  const labels = loadSplit('pneumonia', 'train').labels
  it('partition every index exactly once, deterministically', () => {
    const a = shardIndices(labels, { sites: 3, alpha: 0.5, seed: 's' })
    assert.deepEqual(shardIndices(labels, { sites: 3, alpha: 0.5, seed: 's' }), a)
    const all = a.flat().sort((x, y) => x - y)
    assert.equal(all.length, labels.length)
    assert.ok(all.every((v, i) => v === i))
    assert.notDeepEqual(shardIndices(labels, { sites: 3, alpha: 0.5, seed: 't' }), a)
  })

  it('IID shards keep the class mix; small alpha skews it', () => {
    const mix = (idx: number[]): number => idx.filter(i => labels[i] === 1).length / idx.length
    for (const s of shardIndices(labels, { sites: 3, seed: 'iid' })) assert.ok(Math.abs(mix(s) - 3494 / 4708) < 0.01)
    const skewed = shardIndices(labels, { sites: 3, alpha: 0.3, seed: 'skew' }).filter(s => s.length > 50).map(mix)
    assert.ok(Math.max(...skewed) - Math.min(...skewed) > 0.1, `skewed mixes ${skewed.join(', ')}`)
  })

  it('refuses impossible specs', () => {
    assert.throws(() => shardIndices(labels, { sites: 0, seed: 's' }), InvalidDatasetError)
    assert.throws(() => shardIndices(labels, { sites: 2, alpha: -1, seed: 's' }), InvalidDatasetError)
  })
})
