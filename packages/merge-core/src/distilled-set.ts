// A contributor's distilled set: a few synthetic, labelled inputs that stand in for its private
// data when the searched merges score candidates. Stored as canonical safetensors: `inputs`
// [n, ...feature shape] and `labels` [n] (class indices held exactly in binary32), with the task id;
// optionally `input_gram.<layer>` [in, in], the second moment of each LoRA layer's inputs on the
// contributor's data (what MedForge-RegMean weighs updates by).
import { InvalidDistilledSetError } from './errors.ts'
import { decodeSafetensors, encodeSafetensors } from './safetensors.ts'
import { ldlFactor } from './spd-solve.ts'
import type { F32Tensor } from './tensor.ts'

export const DISTILLED_FORMAT = 'medforge-distilled/v1'

export interface DistilledSet {
  readonly task: string
  /** [n, ...feature shape] */
  readonly inputs: F32Tensor
  readonly labels: Int32Array
  /** By PEFT layer key: symmetric positive-definite [in, in]. */
  readonly inputGrams?: ReadonlyMap<string, F32Tensor>
}

export const INPUT_GRAM_PREFIX = 'input_gram.'
/** Relative ridge under which a Gram must still be positive-definite (a sum of xᵀx is semi-definite). */
const GRAM_RIDGE = 1e-6

export function encodeDistilledSet (set: DistilledSet): Uint8Array {
  const n = set.labels.length
  if (set.inputs.shape[0] !== n) throw new RangeError(`distilled set has ${n} labels but ${set.inputs.shape[0]} inputs`)
  const tensors = new Map<string, F32Tensor>([
    ['inputs', set.inputs],
    ['labels', { shape: [n], data: Float32Array.from(set.labels) }]
  ])
  for (const [layer, gram] of set.inputGrams ?? []) tensors.set(`${INPUT_GRAM_PREFIX}${layer}`, gram)
  return encodeSafetensors(tensors, { metadata: { 'medforge.format': DISTILLED_FORMAT, 'medforge.task': set.task } })
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
  const names = [...file.tensors.keys()].filter(k => !k.startsWith(INPUT_GRAM_PREFIX)).sort()
  if (names.join(',') !== 'inputs,labels') fail(`tensors are [${names.join(', ')}], expected inputs, labels and optional ${INPUT_GRAM_PREFIX}<layer>`)
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
  const grams = new Map<string, F32Tensor>()
  for (const [name, t] of file.tensors) {
    if (!name.startsWith(INPUT_GRAM_PREFIX)) continue
    const problem = gramProblem(t)
    if (problem !== undefined) fail(`${name}: ${problem}`)
    grams.set(name.slice(INPUT_GRAM_PREFIX.length), t)
  }
  return { task: task!, inputs, labels: out, ...(grams.size === 0 ? {} : { inputGrams: grams }) }
}

/** Why a tensor is not a usable second-moment matrix: square, finite, exactly symmetric, positive-definite. */
function gramProblem (t: F32Tensor): string | undefined {
  const [n, m] = t.shape
  if (t.shape.length !== 2 || n !== m || n === 0) return `must be a square matrix, got shape [${t.shape.join(', ')}]`
  const d = t.data
  let trace = 0
  for (let i = 0; i < n!; i++) trace += d[i * n! + i]!
  for (let k = 0; k < d.length; k++) if (!Number.isFinite(d[k]!)) return `entry ${k} is ${d[k]}`
  if (!(trace > 0) || !Number.isFinite(trace)) return `trace is ${trace}, not positive`
  for (let i = 0; i < n!; i++) for (let j = 0; j < i; j++) if (d[i * n! + j] !== d[j * n! + i]) return `not symmetric at [${i}, ${j}]`
  const ridged = Float64Array.from(d)
  for (let i = 0; i < n!; i++) ridged[i * n! + i] = ridged[i * n! + i]! + GRAM_RIDGE * trace / n!
  return ldlFactor(ridged, n!) === undefined ? 'not positive semi-definite' : undefined
}
