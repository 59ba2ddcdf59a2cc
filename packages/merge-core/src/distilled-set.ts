// A contributor's distilled set: a few synthetic, labelled inputs that stand in for its private
// data when the searched merges score candidates. Stored as canonical safetensors: `inputs`
// [n, ...feature shape] and `labels` [n] (class indices held exactly in binary32), with the task id.
import { InvalidDistilledSetError } from './errors.ts'
import { decodeSafetensors, encodeSafetensors } from './safetensors.ts'
import type { F32Tensor } from './tensor.ts'

export const DISTILLED_FORMAT = 'medforge-distilled/v1'

export interface DistilledSet {
  readonly task: string
  /** [n, ...feature shape] */
  readonly inputs: F32Tensor
  readonly labels: Int32Array
}

export function encodeDistilledSet (set: DistilledSet): Uint8Array {
  const n = set.labels.length
  if (set.inputs.shape[0] !== n) throw new RangeError(`distilled set has ${n} labels but ${set.inputs.shape[0]} inputs`)
  return encodeSafetensors(new Map([
    ['inputs', set.inputs],
    ['labels', { shape: [n], data: Float32Array.from(set.labels) }]
  ]), { metadata: { 'medforge.format': DISTILLED_FORMAT, 'medforge.task': set.task } })
}

/**
 * Decodes and checks a distilled set. `classes` bounds the labels and `featureShape` (when given)
 * is the per-sample input shape the model expects.
 */
export function decodeDistilledSet (bytes: Uint8Array, source: string, expect: { classes: number, featureShape?: readonly number[] }): DistilledSet {
  const fail = (detail: string): never => { throw new InvalidDistilledSetError(source, detail) }
  const file = decodeSafetensors(bytes, { source })
  if (file.metadata['medforge.format'] !== DISTILLED_FORMAT) fail(`metadata medforge.format is ${JSON.stringify(file.metadata['medforge.format'] ?? null)}, expected "${DISTILLED_FORMAT}"`)
  const task = file.metadata['medforge.task']
  if (task === undefined || task === '') fail('metadata has no medforge.task')
  const names = [...file.tensors.keys()].sort()
  if (names.join(',') !== 'inputs,labels') fail(`tensors are [${names.join(', ')}], expected exactly inputs and labels`)
  const inputs = file.tensors.get('inputs')!
  const labels = file.tensors.get('labels')!
  if (labels.shape.length !== 1) fail(`labels must be a vector, got shape [${labels.shape.join(', ')}]`)
  const n = labels.shape[0]!
  if (inputs.shape[0] !== n) fail(`${n} labels but ${inputs.shape[0]} inputs`)
  const feature = inputs.shape.slice(1)
  if (expect.featureShape !== undefined && feature.join(',') !== expect.featureShape.join(',')) {
    fail(`each input has shape [${feature.join(', ')}], the model takes [${expect.featureShape.join(', ')}]`)
  }
  const out = new Int32Array(n)
  for (let i = 0; i < n; i++) {
    const v = labels.data[i]!
    if (!Number.isInteger(v) || v < 0 || v >= expect.classes) fail(`label ${i} is ${v}, not a class index below ${expect.classes}`)
    out[i] = v
  }
  return { task: task!, inputs, labels: out }
}
