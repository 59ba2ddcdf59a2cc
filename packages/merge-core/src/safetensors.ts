// Strict reader and canonical writer for the safetensors format
// (8-byte little-endian header length, JSON header, one contiguous data buffer).
// Every rule the reference implementation enforces is enforced here, plus finiteness.
import { InvalidSafetensorsError } from './errors.ts'
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from './float16.ts'
import { compareUtf8, elementCount, formatShape } from './tensor.ts'
import type { F32Tensor } from './tensor.ts'

export type InputDtype = 'F32' | 'F16' | 'BF16'
export type OutputDtype = InputDtype

const DTYPE_BYTES: Record<InputDtype, number> = { F32: 4, F16: 2, BF16: 2 }
/** The reference implementation's bound on the header, to refuse absurd allocations before parsing. */
export const MAX_HEADER_BYTES = 100_000_000
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

export interface SafetensorsFile {
  readonly tensors: Map<string, F32Tensor>
  /** dtype each tensor had on disk */
  readonly dtypes: Map<string, InputDtype>
  readonly metadata: Record<string, string>
}

export interface DecodeOptions {
  /** Name used in error messages (a file path, a blob CID). */
  readonly source?: string
  readonly maxHeaderBytes?: number
  /** Refuse NaN and ±Infinity (default true). */
  readonly requireFinite?: boolean
}

interface HeaderEntry { name: string, dtype: InputDtype, shape: number[], begin: number, end: number }

/** The 8-byte length and the JSON header, checked; `fail` throws. */
function parseHeader (bytes: Uint8Array, maxHeader: number, fail: (detail: string, tensor?: string) => never): { header: Record<string, unknown>, n: number } {
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, shorter than the 8-byte header length`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const headerLen = view.getBigUint64(0, true)
  // A file of another kind (text, a zip, …) reads as an absurd length: say what it is not.
  if (headerLen > BigInt(bytes.length - 8) && bytes.length > 8 && bytes[8] !== 0x7b) fail(`not a safetensors file: its first 8 bytes give a header length of ${headerLen}, and no JSON header follows them`)
  if (headerLen > BigInt(maxHeader)) fail(`header length ${headerLen} exceeds the limit of ${maxHeader} bytes`)
  const n = Number(headerLen)
  if (n < 2) fail(`header length ${n} is too small for a JSON object`)
  if (8 + n > bytes.length) fail(`header length ${n} runs past the end of the ${bytes.length}-byte file`)

  let headerText: string
  try {
    headerText = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n))
  } catch {
    return fail('header is not valid UTF-8')
  }
  if (!headerText.startsWith('{')) fail('header does not start with "{"')
  let header: unknown
  try {
    header = JSON.parse(headerText)
  } catch (err) {
    return fail(`header is not valid JSON: ${(err as Error).message}`)
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object')
  const duplicate = firstDuplicateTopLevelKey(headerText)
  if (duplicate !== undefined) fail('tensor name appears more than once in the header', duplicate)
  return { header: header as Record<string, unknown>, n }
}

function parseMetadata (raw: unknown, fail: (detail: string) => never): Record<string, string> {
  const metadata: Record<string, string> = {}
  if (raw === undefined) return metadata
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail('__metadata__ is not an object of strings')
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof v !== 'string') fail(`__metadata__ value for "${k}" is not a string`)
    metadata[k] = v as string
  }
  return metadata
}

/** A file's `__metadata__` alone, from its header (no tensor is read). */
export function readSafetensorsMetadata (bytes: Uint8Array, options: { source?: string, maxHeaderBytes?: number } = {}): Record<string, string> {
  const source = options.source ?? '<bytes>'
  const fail = (detail: string, tensor?: string): never => { throw new InvalidSafetensorsError(source, detail, tensor) }
  return parseMetadata(parseHeader(bytes, options.maxHeaderBytes ?? MAX_HEADER_BYTES, fail).header.__metadata__, fail)
}

export function decodeSafetensors (bytes: Uint8Array, options: DecodeOptions = {}): SafetensorsFile {
  const source = options.source ?? '<bytes>'
  const fail = (detail: string, tensor?: string): never => { throw new InvalidSafetensorsError(source, detail, tensor) }
  const { header, n } = parseHeader(bytes, options.maxHeaderBytes ?? MAX_HEADER_BYTES, fail)

  const dataStart = 8 + n
  const dataLength = bytes.length - dataStart
  const metadata = parseMetadata(header.__metadata__, fail)
  const entries: HeaderEntry[] = []
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') continue
    entries.push(parseEntry(name, raw, fail))
  }

  // Offsets, sorted, must tile the data buffer exactly: no overlap, no gap, nothing past the end.
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end)
  let cursor = 0
  for (const e of byOffset) {
    if (e.begin < cursor) fail(`data_offsets [${e.begin}, ${e.end}] overlap the previous tensor (which ends at ${cursor})`, e.name)
    if (e.begin > cursor) fail(`data_offsets [${e.begin}, ${e.end}] leave a gap after offset ${cursor}`, e.name)
    if (e.end > dataLength) fail(`data_offsets [${e.begin}, ${e.end}] run past the ${dataLength}-byte data buffer`, e.name)
    cursor = e.end
  }
  if (cursor !== dataLength) fail(`data buffer is ${dataLength} bytes but the tensors cover ${cursor}`)

  const tensors = new Map<string, F32Tensor>()
  const dtypes = new Map<string, InputDtype>()
  const requireFinite = options.requireFinite ?? true
  for (const e of entries.sort((a, b) => compareUtf8(a.name, b.name))) {
    const data = readAsF32(bytes, dataStart + e.begin, elementCount(e.shape), e.dtype)
    if (requireFinite) {
      for (let i = 0; i < data.length; i++) {
        if (!Number.isFinite(data[i]!)) fail(`element ${i} is ${data[i]}, values must be finite`, e.name)
      }
    }
    tensors.set(e.name, { shape: e.shape, data })
    dtypes.set(e.name, e.dtype)
  }
  return { tensors, dtypes, metadata }
}

function parseEntry (name: string, raw: unknown, fail: (detail: string, tensor?: string) => never): HeaderEntry {
  if (name.length === 0) fail('empty tensor name')
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail('header entry is not an object', name)
  const entry = raw as Record<string, unknown>
  for (const key of Object.keys(entry)) {
    if (key !== 'dtype' && key !== 'shape' && key !== 'data_offsets') fail(`unexpected field "${key}"`, name)
  }
  const dtype = entry.dtype
  if (typeof dtype !== 'string') fail('dtype is missing or not a string', name)
  if (!(dtype as string in DTYPE_BYTES)) fail(`dtype ${String(dtype)} is not supported (F32, F16, BF16 are)`, name)
  const shape = entry.shape
  if (!Array.isArray(shape) || !shape.every(d => Number.isSafeInteger(d) && d >= 0)) {
    fail('shape must be an array of non-negative integers', name)
  }
  const offsets = entry.data_offsets
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(o => Number.isSafeInteger(o) && o >= 0)) {
    fail('data_offsets must be two non-negative integers', name)
  }
  const [begin, end] = offsets as [number, number]
  if (end < begin) fail(`data_offsets [${begin}, ${end}] end before they begin`, name)
  const expected = elementCount(shape as number[]) * DTYPE_BYTES[dtype as InputDtype]
  if (end - begin !== expected) {
    fail(`data_offsets span ${end - begin} bytes but ${String(dtype)} ${formatShape(shape as number[])} needs ${expected}`, name)
  }
  return { name, dtype: dtype as InputDtype, shape: shape as number[], begin, end }
}

function readAsF32 (bytes: Uint8Array, offset: number, count: number, dtype: InputDtype): Float32Array {
  const out = new Float32Array(count)
  const abs = bytes.byteOffset + offset
  if (dtype === 'F32') {
    if (LITTLE_ENDIAN) {
      new Uint8Array(out.buffer).set(bytes.subarray(offset, offset + count * 4))
    } else {
      const view = new DataView(bytes.buffer, abs, count * 4)
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true)
    }
    return out
  }
  const view = new DataView(bytes.buffer, abs, count * 2)
  const widen = dtype === 'F16' ? f16ToF32 : bf16ToF32
  for (let i = 0; i < count; i++) out[i] = widen(view.getUint16(i * 2, true))
  return out
}

/**
 * JSON.parse keeps the last of two equal keys silently; a header with a repeated tensor name is
 * ambiguous, so scan the (already valid) JSON text for repeated keys of the top-level object.
 */
function firstDuplicateTopLevelKey (json: string): string | undefined {
  const seen = new Set<string>()
  let depth = 0
  let i = 0
  let expectKey = false
  while (i < json.length) {
    const c = json[i]!
    if (c === '"') {
      let j = i + 1
      while (json[j] !== '"') j += json[j] === '\\' ? 2 : 1
      if (depth === 1 && expectKey) {
        const key = JSON.parse(json.slice(i, j + 1)) as string
        if (seen.has(key)) return key
        seen.add(key)
        expectKey = false
      }
      i = j + 1
      continue
    }
    if (c === '{' || c === '[') { depth++; expectKey = depth === 1 && c === '{' } else if (c === '}' || c === ']') depth--
    else if (c === ',' && depth === 1) expectKey = true
    i++
  }
  return undefined
}

export interface EncodeOptions {
  readonly metadata?: Record<string, string>
  readonly dtype?: OutputDtype
}

/**
 * Canonical encoding: tensors in UTF-8 name order, packed without gaps, compact JSON header
 * (`__metadata__` first, keys in a fixed order) padded with spaces to 8 bytes. The same tensors
 * and metadata always give the same bytes.
 */
export function encodeSafetensors (tensors: ReadonlyMap<string, F32Tensor>, options: EncodeOptions = {}): Uint8Array {
  const dtype = options.dtype ?? 'F32'
  const width = DTYPE_BYTES[dtype]
  const names = [...tensors.keys()].sort(compareUtf8)
  const headerParts: string[] = []
  if (options.metadata !== undefined && Object.keys(options.metadata).length > 0) {
    const meta = Object.keys(options.metadata).sort(compareUtf8).map(k => `${JSON.stringify(k)}:${JSON.stringify(options.metadata![k])}`)
    headerParts.push(`"__metadata__":{${meta.join(',')}}`)
  }
  let offset = 0
  for (const name of names) {
    if (name === '__metadata__') throw new RangeError('"__metadata__" is reserved and cannot name a tensor')
    const t = tensors.get(name)!
    const size = t.data.length * width
    headerParts.push(`${JSON.stringify(name)}:{"dtype":"${dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + size}]}`)
    offset += size
  }
  let header = `{${headerParts.join(',')}}`
  const headerBytesLen = Buffer.byteLength(header, 'utf8')
  header += ' '.repeat((8 - (headerBytesLen % 8)) % 8)
  const headerBytes = Buffer.from(header, 'utf8')
  const out = new Uint8Array(8 + headerBytes.length + offset)
  const view = new DataView(out.buffer)
  view.setBigUint64(0, BigInt(headerBytes.length), true)
  out.set(headerBytes, 8)
  let pos = 8 + headerBytes.length
  for (const name of names) {
    const data = tensors.get(name)!.data
    if (dtype === 'F32') {
      if (LITTLE_ENDIAN) out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), pos)
      else for (let i = 0; i < data.length; i++) view.setFloat32(pos + i * 4, data[i]!, true)
    } else {
      const narrow = dtype === 'F16' ? f32ToF16 : f32ToBf16
      for (let i = 0; i < data.length; i++) view.setUint16(pos + i * 2, narrow(data[i]!), true)
    }
    pos += data.length * width
  }
  return out
}
