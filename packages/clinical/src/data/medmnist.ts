// The demo tasks: MedMNIST v2 subsets vendored in the repository's data/ folder (CC BY 4.0,
// see data/NOTICE.md). Images are 28x28 uint8 grayscale; labels are class indices.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { InvalidDatasetError, InvalidNpzError } from '../errors.ts'
import { parseNpz } from './npz.ts'
import { shardIndices } from './shards.ts'
import type { NpyArray } from './npz.ts'
import { subset } from './image-set.ts'
import type { ImageSet } from './image-set.ts'

export type { ImageSet } from './image-set.ts'
export { classCounts, subset } from './image-set.ts'

export interface ClinicalTask {
  readonly id: string
  readonly file: string
  readonly modality: string
  readonly labels: readonly string[]
  /** Published MedMNIST v2 ResNet-18 (28) test numbers, for the results table. */
  readonly baseline: { readonly auc: number, readonly acc: number }
}

export const CLINICAL_TASKS: ReadonlyMap<string, ClinicalTask> = new Map([
  ['pneumonia', { id: 'pneumonia', file: 'pneumoniamnist.npz', modality: 'chest-xray', labels: ['normal', 'pneumonia'], baseline: { auc: 0.944, acc: 0.854 } }],
  ['breast', { id: 'breast', file: 'breastmnist.npz', modality: 'breast-ultrasound', labels: ['malignant', 'normal-or-benign'], baseline: { auc: 0.901, acc: 0.863 } }]
])

export type SplitName = 'train' | 'val' | 'test'

/** The repository's data folder (override with MEDFORGE_DATA_DIR). */
export function dataDir (): string {
  return process.env.MEDFORGE_DATA_DIR ?? join(import.meta.dirname, '..', '..', 'data', 'medmnist')
}

export function clinicalTask (id: string): ClinicalTask {
  const task = CLINICAL_TASKS.get(id)
  if (task === undefined) throw new InvalidDatasetError(`unknown task "${id}" (known: ${[...CLINICAL_TASKS.keys()].join(', ')})`)
  return task
}

/**
 * Checks and converts one images/labels pair of MedMNIST-format arrays: images uint8
 * (n, side, side) grey or (n, side, side, 3) colour, labels (n, 1) or (n) class indices.
 */
export function imageSetFrom (images: NpyArray | undefined, labels: NpyArray | undefined, classes: number, source: string): ImageSet {
  if (images === undefined || labels === undefined) throw new InvalidNpzError(source, 'missing an images or labels array')
  const colour = images.shape.length === 4 && images.shape[3] === 3
  if (images.dtype !== 'u1' || !(images.shape.length === 3 || colour) || images.shape[1] !== images.shape[2]) {
    throw new InvalidNpzError(source, `images must be uint8 (n, side, side) or (n, side, side, 3), got ${images.dtype} (${images.shape.join(', ')})`)
  }
  const n = images.shape[0]!
  const flatLabels = labels.shape.length === 2 && labels.shape[1] === 1 ? labels.shape[0] : labels.shape.length === 1 ? labels.shape[0] : -1
  if (flatLabels !== n) throw new InvalidNpzError(source, `labels have shape (${labels.shape.join(', ')}), expected (${n}, 1) or (${n})`)
  const out = new Int32Array(n)
  for (let i = 0; i < n; i++) {
    const v = Number(labels.data[i])
    if (!Number.isInteger(v) || v < 0 || v >= classes) throw new InvalidNpzError(source, `label ${i} is ${v}, not a class index below ${classes}`)
    out[i] = v
  }
  return { images: images.data as Uint8Array, labels: out, count: n, side: images.shape[1]!, channels: colour ? 3 : 1 }
}

const cache = new Map<string, Map<string, NpyArray>>()

/** One split of a clinical task, from the vendored MedMNIST file. */
export function loadSplit (taskId: string, split: SplitName): ImageSet {
  const task = clinicalTask(taskId)
  const path = join(dataDir(), task.file)
  let arrays = cache.get(path)
  if (arrays === undefined) {
    let bytes: Uint8Array
    try {
      bytes = readFileSync(path)
    } catch (err) {
      throw new InvalidDatasetError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
    arrays = parseNpz(bytes, path)
    cache.set(path, arrays)
  }
  return imageSetFrom(arrays.get(`${split}_images`), arrays.get(`${split}_labels`), task.labels.length, `${path} ${split}`)
}

/**
 * Site `index` of `sites`: its shard of the official train split (label-skewed with
 * Dirichlet(alpha), IID without alpha) and an IID shard of the val split for its model selection.
 */
export function siteShard (taskId: string, index: number, sites: number, options: { alpha?: number, seed?: string } = {}): { train: ImageSet, val: ImageSet } {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(sites) || index < 0 || index >= sites) throw new InvalidDatasetError(`site ${index} of ${sites} does not exist`)
  const seed = options.seed ?? 'medforge'
  const train = loadSplit(taskId, 'train')
  const val = loadSplit(taskId, 'val')
  const trainIdx = shardIndices(train.labels, { sites, ...(options.alpha === undefined ? {} : { alpha: options.alpha }), seed: `${seed}|train` })[index]!
  const valIdx = shardIndices(val.labels, { sites, seed: `${seed}|val` })[index]!
  return { train: subset(train, trainIdx), val: subset(val, valIdx) }
}
