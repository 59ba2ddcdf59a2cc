// A site's own data: a MedMNIST-format .npz (any subset: grey or colour, any class count) or an
// image folder (one sub-folder per class, PNG and JPEG of any size), read into the square,
// channel-matched image sets the model takes. A seeded, stratified validation split is drawn from
// train when the data has none. Every refusal names the file and what is wrong.
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { Xoshiro128 } from '@medforge/merge-core'
import { InvalidDatasetError, InvalidNpzError } from '../errors.ts'
import { decodeImage } from './image-decode.ts'
import { classCounts, subset } from './image-set.ts'
import type { ImageSet } from './image-set.ts'
import { imageSetFrom } from './medmnist.ts'
import { parseNpz } from './npz.ts'
import { convertChannels, cropResize } from './resize.ts'

export interface DatasetSpec {
  /** Class names in label order (an image folder's sub-folders carry these names). */
  readonly classes: readonly string[]
  /** The task's input: 1 (grey) or 3 (RGB). */
  readonly channels: number
  /** The side of the square images the model takes. */
  readonly side: number
  /** Share of train held out for validation when the data has no val split (default 0.1). */
  readonly valFraction?: number
  readonly seed?: string
}

export type DatasetFormat = 'npz' | 'image-folder'

export interface SiteDataset {
  readonly source: string
  readonly format: DatasetFormat
  readonly train: ImageSet
  readonly val: ImageSet
  readonly test?: ImageSet
  /** True when val was drawn from train because the data had none. */
  readonly generatedVal: boolean
}

const SPLITS = ['train', 'val', 'test'] as const
type Split = typeof SPLITS[number]

export function loadDataset (path: string, spec: DatasetSpec): SiteDataset {
  const format = formatOf(path)
  const raw = format === 'npz' ? readNpzSplits(path, spec) : readFolderSplits(path, spec)
  if (raw.train === undefined) throw new InvalidDatasetError(`${path}: no train split (${format === 'npz' ? 'train_images and train_labels' : 'class folders, or a train/ folder of them'})`)
  const counts = classCounts(raw.train, spec.classes.length)
  const empty = counts.findIndex(c => c === 0)
  if (empty >= 0) throw new InvalidDatasetError(`${path}: class "${spec.classes[empty]}" has no training images`)
  if (raw.val !== undefined) return { source: path, format, train: raw.train, val: raw.val, ...(raw.test === undefined ? {} : { test: raw.test }), generatedVal: false }
  const { train, val } = splitValidation(raw.train, spec.classes.length, spec.valFraction ?? 0.1, spec.seed ?? 'medforge')
  return { source: path, format, train, val, ...(raw.test === undefined ? {} : { test: raw.test }), generatedVal: true }
}

function formatOf (path: string): DatasetFormat {
  let isDir: boolean
  try {
    isDir = statSync(path).isDirectory()
  } catch (err) {
    throw new InvalidDatasetError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  if (isDir) return 'image-folder'
  if (path.endsWith('.npz')) return 'npz'
  throw new InvalidDatasetError(`${path}: expected a MedMNIST-format .npz file or a folder of class folders`)
}

/** Stratified and seeded: about `fraction` of each class (one at least, when it has two) goes to val. */
export function splitValidation (set: ImageSet, classes: number, fraction: number, seed: string): { train: ImageSet, val: ImageSet } {
  const rng = Xoshiro128.fromString(`medforge-val-split/v1|${seed}`)
  const train: number[] = []
  const val: number[] = []
  for (let c = 0; c < classes; c++) {
    const idx = Array.from(set.labels.keys()).filter(i => set.labels[i] === c)
    for (let i = idx.length - 1; i > 0; i--) { const j = rng.nextU32() % (i + 1); [idx[i], idx[j]] = [idx[j]!, idx[i]!] }
    const k = idx.length < 2 ? 0 : Math.max(1, Math.round(idx.length * fraction))
    val.push(...idx.slice(0, k))
    train.push(...idx.slice(k))
  }
  return { train: subset(set, train.sort((a, b) => a - b)), val: subset(set, val.sort((a, b) => a - b)) }
}

/** Square images of the spec's side, same channels: resized when the file's side differs. */
function fitted (set: ImageSet, spec: DatasetSpec, source: string): ImageSet {
  if (set.channels !== spec.channels) {
    throw new InvalidDatasetError(`${source}: images have ${set.channels} channel(s) (${set.channels === 1 ? 'grey' : 'colour'}), the task's input is ${spec.channels === 1 ? 'grey (1 channel)' : 'RGB (3 channels)'}`)
  }
  if (set.side === spec.side) return set
  const per = set.side * set.side * set.channels
  const out = new Uint8Array(set.count * spec.side * spec.side * set.channels)
  for (let i = 0; i < set.count; i++) out.set(cropResize(set.images.subarray(i * per, (i + 1) * per), set.side, set.side, set.channels, spec.side), i * spec.side * spec.side * set.channels)
  return { ...set, images: out, side: spec.side }
}

function readNpzSplits (path: string, spec: DatasetSpec): Partial<Record<Split, ImageSet>> {
  let arrays
  try {
    arrays = parseNpz(readFileSync(path), path)
  } catch (err) {
    if (err instanceof InvalidNpzError) throw err
    throw new InvalidDatasetError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  const out: Partial<Record<Split, ImageSet>> = {}
  for (const split of SPLITS) {
    if (!arrays.has(`${split}_images`) && !arrays.has(`${split}_labels`)) continue
    out[split] = fitted(imageSetFrom(arrays.get(`${split}_images`), arrays.get(`${split}_labels`), spec.classes.length, `${path} ${split}`), spec, `${path} ${split}_images`)
  }
  return out
}

const visible = (name: string): boolean => !name.startsWith('.')

function readFolderSplits (path: string, spec: DatasetSpec): Partial<Record<Split, ImageSet>> {
  const entries = readdirSync(path).filter(visible).sort()
  const split = entries.length > 0 && entries.every(e => (SPLITS as readonly string[]).includes(e))
  if (!split) return { train: readClassFolders(path, spec) }
  const out: Partial<Record<Split, ImageSet>> = {}
  for (const s of entries as Split[]) out[s] = readClassFolders(join(path, s), spec)
  return out
}

/** Every image of `dir/<class>/`, labelled by its folder's place in the spec's classes. */
function readClassFolders (dir: string, spec: DatasetSpec): ImageSet {
  const images: Uint8Array[] = []
  const labels: number[] = []
  for (const name of readdirSync(dir).filter(visible).sort()) {
    const folder = join(dir, name)
    if (!statSync(folder).isDirectory()) throw new InvalidDatasetError(`${folder}: expected only class folders here (${spec.classes.join(', ')})`)
    const label = spec.classes.indexOf(name)
    if (label < 0) throw new InvalidDatasetError(`${folder}: unknown class folder "${name}" (the task's classes: ${spec.classes.join(', ')})`)
    for (const file of readdirSync(folder).filter(visible).sort()) {
      const decoded = decodeImage(readFileSync(join(folder, file)), join(folder, file))
      const pixels = cropResize(decoded.pixels, decoded.width, decoded.height, decoded.channels, spec.side)
      images.push(convertChannels(pixels, spec.side * spec.side, decoded.channels, spec.channels))
      labels.push(label)
    }
  }
  const per = spec.side * spec.side * spec.channels
  const all = new Uint8Array(images.length * per)
  images.forEach((img, i) => all.set(img, i * per))
  return { images: all, labels: Int32Array.from(labels), count: images.length, side: spec.side, channels: spec.channels }
}

export interface DatasetSummary {
  readonly source: string
  readonly format: DatasetFormat
  /** Class folder names, or label indices for an .npz. */
  readonly classes: readonly string[]
  readonly splits: Readonly<Record<string, { readonly count: number, readonly perClass: readonly number[] }>>
  /** Distinct image sizes as "WxH", with how many images have each. */
  readonly sizes: Readonly<Record<string, number>>
  /** Distinct channel counts (1 grey, 3 colour), with how many images have each. */
  readonly channels: Readonly<Record<string, number>>
}

/** What a dataset holds, before training: classes, counts per split, image sizes and channels. */
export function inspectDataset (path: string): DatasetSummary {
  const format = formatOf(path)
  const sizes: Record<string, number> = {}
  const channels: Record<string, number> = {}
  const splits: Record<string, { count: number, perClass: number[] }> = {}
  if (format === 'npz') {
    const arrays = parseNpz(readFileSync(path), path)
    let classes = 0
    for (const s of SPLITS) {
      const labels = arrays.get(`${s}_labels`)
      if (labels !== undefined) for (const v of labels.data) classes = Math.max(classes, Number(v) + 1)
    }
    for (const s of SPLITS) {
      if (!arrays.has(`${s}_images`)) continue
      const set = imageSetFrom(arrays.get(`${s}_images`), arrays.get(`${s}_labels`), classes, `${path} ${s}`)
      splits[s] = { count: set.count, perClass: classCounts(set, classes) }
      sizes[`${set.side}x${set.side}`] = (sizes[`${set.side}x${set.side}`] ?? 0) + set.count
      channels[String(set.channels)] = (channels[String(set.channels)] ?? 0) + set.count
    }
    return { source: path, format, classes: Array.from({ length: classes }, (_, i) => String(i)), splits, sizes, channels }
  }
  const entries = readdirSync(path).filter(visible).sort()
  const splitDirs = entries.length > 0 && entries.every(e => (SPLITS as readonly string[]).includes(e)) ? entries : undefined
  const roots = splitDirs === undefined ? [['train', path]] : splitDirs.map(s => [s, join(path, s)])
  const classes = [...new Set(roots.flatMap(([, dir]) => readdirSync(dir!).filter(visible)))].sort()
  for (const [s, dir] of roots) {
    const perClass = classes.map(c => {
      const folder = join(dir!, c)
      let files: string[]
      try { files = readdirSync(folder).filter(visible) } catch { return 0 }
      for (const f of files) {
        const img = decodeImage(readFileSync(join(folder, f)), join(folder, f))
        sizes[`${img.width}x${img.height}`] = (sizes[`${img.width}x${img.height}`] ?? 0) + 1
        channels[String(img.channels)] = (channels[String(img.channels)] ?? 0) + 1
      }
      return files.length
    })
    splits[s!] = { count: perClass.reduce((a, b) => a + b, 0), perClass }
  }
  return { source: path, format, classes, splits, sizes, channels }
}
