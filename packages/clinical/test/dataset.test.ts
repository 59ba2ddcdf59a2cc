// A site's own data: image folders (PNG and JPEG, any size, grey or colour) and MedMNIST-format
// .npz files of any subset, with the refusals a site meets when its files are wrong.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { InvalidDatasetError, InvalidNpzError, classCounts, cropResize, encodeNpz, inspectDataset, loadDataset, splitValidation, syntheticColourNpz, writeSyntheticImageFolder } from '../src/index.ts'

const made: string[] = []
const temp = (name: string): string => { const dir = mkdtempSync(join(tmpdir(), `medforge-${name}-`)); made.push(dir); return dir }
after(() => { for (const dir of made) rmSync(dir, { recursive: true, force: true }) })
const RETINA = { classes: ['0', '1', '2', '3', '4'], channels: 3, side: 28 }

describe('site datasets', () => {
  it('reads a colour 5-class MedMNIST-format .npz with its own splits (RetinaMNIST\'s layout)', () => {
    const path = join(temp('npz'), 'retina.npz')
    writeFileSync(path, syntheticColourNpz({ classes: 5, counts: { train: 60, val: 10, test: 20 }, seed: 't' }))
    const d = loadDataset(path, RETINA)
    assert.deepEqual([d.format, d.generatedVal, d.train.count, d.val.count, d.test?.count, d.train.channels, d.train.side], ['npz', false, 60, 10, 20, 3, 28])
    assert.deepEqual(classCounts(d.train, 5), [12, 12, 12, 12, 12])
    const summary = inspectDataset(path)
    assert.deepEqual([summary.classes.length, summary.splits.test?.count, summary.channels], [5, 20, { 3: 90 }])
  })

  it('resizes larger .npz images to the model\'s side, and refuses a channel count the task does not take', () => {
    const path = join(temp('npz64'), 'big.npz')
    writeFileSync(path, syntheticColourNpz({ classes: 3, counts: { train: 9, val: 3, test: 0 }, side: 64 }))
    const d = loadDataset(path, { classes: ['a', 'b', 'c'], channels: 3, side: 28 })
    assert.equal(d.train.side, 28)
    assert.throws(() => loadDataset(path, { classes: ['a', 'b', 'c'], channels: 1, side: 28 }), (e: Error) => e instanceof InvalidDatasetError && /big\.npz train_images: images have 3 channel\(s\) \(colour\), the task's input is grey/.test(e.message))
  })

  it('refuses labels out of range and a missing train split, naming the file', () => {
    const path = join(temp('bad'), 'bad.npz')
    writeFileSync(path, encodeNpz(new Map([
      ['train_images', { dtype: 'u1' as const, shape: [2, 28, 28], data: new Uint8Array(2 * 784) }],
      ['train_labels', { dtype: 'u1' as const, shape: [2, 1], data: Uint8Array.of(0, 7) }]
    ])))
    assert.throws(() => loadDataset(path, { classes: ['a', 'b'], channels: 1, side: 28 }), (e: Error) => e instanceof InvalidNpzError && /bad\.npz train: .*label 1 is 7/.test(e.message))
    const noTrain = join(temp('bad'), 'val-only.npz')
    writeFileSync(noTrain, encodeNpz(new Map([['val_images', { dtype: 'u1' as const, shape: [1, 28, 28], data: new Uint8Array(784) }], ['val_labels', { dtype: 'u1' as const, shape: [1], data: Uint8Array.of(0) }]])))
    assert.throws(() => loadDataset(noTrain, { classes: ['a', 'b'], channels: 1, side: 28 }), /val-only\.npz: no train split/)
  })

  it('reads an image folder of PNG and JPEG files of mixed sizes, one class per folder, with a seeded validation split', () => {
    const dir = temp('folder')
    writeSyntheticImageFolder(dir, { classes: ['benign', 'malignant', 'normal'], perClass: 10, seed: 'f' })
    const files = readdirSync(join(dir, 'benign'))
    assert.ok(files.some(f => f.endsWith('.png')) && files.some(f => f.endsWith('.jpg')))
    const spec = { classes: ['benign', 'malignant', 'normal'], channels: 3, side: 28 }
    const d = loadDataset(dir, spec)
    assert.deepEqual([d.format, d.generatedVal, d.train.count + d.val.count, d.val.count, d.test], ['image-folder', true, 30, 3, undefined])
    assert.deepEqual(classCounts(d.val, 3), [1, 1, 1])
    assert.deepEqual(loadDataset(dir, spec).val.labels, d.val.labels, 'the same split every time')
    const grey = loadDataset(dir, { ...spec, channels: 1 })
    assert.equal(grey.train.images.length, grey.train.count * 28 * 28, 'colour files converted for a grey task')
    const summary = inspectDataset(dir)
    assert.deepEqual([summary.classes, summary.splits.train?.perClass], [['benign', 'malignant', 'normal'], [10, 10, 10]])
    assert.ok(Object.keys(summary.sizes).length > 3, 'mixed sizes reported')
  })

  it('reads train/val/test folders when the site has them', () => {
    const dir = temp('splits')
    for (const s of ['train', 'val', 'test']) writeSyntheticImageFolder(join(dir, s), { classes: ['x', 'y'], perClass: s === 'train' ? 6 : 2, seed: s })
    const d = loadDataset(dir, { classes: ['x', 'y'], channels: 3, side: 28 })
    assert.deepEqual([d.train.count, d.val.count, d.test?.count, d.generatedVal], [12, 4, 4, false])
  })

  it('refuses an unknown class folder, an unreadable image, an empty class and stray files, naming them', () => {
    const spec = { classes: ['x', 'y'], channels: 1, side: 28 }
    const unknown = temp('unknown')
    writeSyntheticImageFolder(unknown, { classes: ['x', 'y', 'z'], perClass: 2 })
    assert.throws(() => loadDataset(unknown, spec), (e: Error) => e instanceof InvalidDatasetError && /z: unknown class folder "z" \(the task's classes: x, y\)/.test(e.message))
    const broken = temp('broken')
    writeSyntheticImageFolder(broken, { classes: ['x', 'y'], perClass: 2 })
    writeFileSync(join(broken, 'x', 'scan.png'), Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4, 5, 6))
    assert.throws(() => loadDataset(broken, spec), /x\/scan\.png: unreadable image/)
    writeFileSync(join(broken, 'x', 'scan.png'), new TextEncoder().encode('notes about the scans'))
    assert.throws(() => loadDataset(broken, spec), /x\/scan\.png: unreadable image: not a PNG or JPEG file/)
    const empty = temp('empty')
    writeSyntheticImageFolder(empty, { classes: ['x'], perClass: 2 })
    mkdirSync(join(empty, 'y'))
    assert.throws(() => loadDataset(empty, spec), /class "y" has no training images/)
    assert.throws(() => loadDataset(join(empty, 'nowhere'), spec), /cannot read .*nowhere: ENOENT/)
  })

  it('crop-resize keeps a constant image constant and every size maps to the side (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 60 }), fc.integer({ min: 0, max: 255 }), fc.constantFrom(1, 3), (w, h, v, ch) => {
      const out = cropResize(new Uint8Array(w * h * ch).fill(v), w, h, ch, 28)
      return out.length === 28 * 28 * ch && out.every(x => x === v)
    }), { numRuns: 60 })
  })

  it('the validation split is stratified and disjoint from train (property)', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 80 }), fc.string(), (labels, seed) => {
      const set = { images: new Uint8Array(labels.length), labels: Int32Array.from(labels), count: labels.length, side: 1, channels: 1 }
      const { train, val } = splitValidation(set, 4, 0.1, seed)
      const counts = classCounts(set, 4)
      return train.count + val.count === set.count && classCounts(val, 4).every((v, c) => counts[c]! < 2 ? v === 0 : v >= 1 && v < counts[c]!)
    }), { numRuns: 100 })
  })
})
