// NumPy .npz archives read directly: a zip (stored or deflated members, CRC-checked) of .npy
// arrays (format 1.0-3.0, little-endian, C order). Every inconsistency is an InvalidNpzError
// naming the file and the member.
import { crc32, inflateRawSync } from 'node:zlib'
import { InvalidNpzError } from '../errors.ts'

export type NpyDtype = 'u1' | 'i1' | 'u2' | 'i2' | 'i4' | 'u4' | 'i8' | 'f4' | 'f8' | 'b1'

export interface NpyArray {
  readonly dtype: NpyDtype
  readonly shape: readonly number[]
  /** Values as a typed array of the dtype (int64 as Float64, exact up to 2^53). */
  readonly data: Uint8Array | Int8Array | Uint16Array | Int16Array | Int32Array | Uint32Array | Float32Array | Float64Array
}

const ITEM: Record<NpyDtype, number> = { u1: 1, i1: 1, b1: 1, u2: 2, i2: 2, i4: 4, u4: 4, i8: 8, f4: 4, f8: 8 }
const MAX_MEMBER_BYTES = 1 << 30

interface ZipEntry { name: string, method: number, compressed: number, size: number, crc: number, offset: number }

function readCentralDirectory (buf: Buffer, source: string): ZipEntry[] {
  const fail = (d: string): never => { throw new InvalidNpzError(source, d) }
  if (buf.length < 22) fail(`file is ${buf.length} bytes, too short for a zip archive`)
  let eocd = -1
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 65535); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) { eocd = i; break }
  }
  if (eocd < 0) fail('no zip end-of-central-directory record (not a zip file, or truncated)')
  const count = buf.readUInt16LE(eocd + 10)
  const cdSize = buf.readUInt32LE(eocd + 12)
  const cdOffset = buf.readUInt32LE(eocd + 16)
  if (count === 0xffff || cdOffset === 0xffffffff) fail('ZIP64 archives are not supported')
  if (cdOffset + cdSize > eocd) fail('central directory lies outside the file')
  const entries: ZipEntry[] = []
  let p = cdOffset
  for (let i = 0; i < count; i++) {
    if (p + 46 > buf.length || buf.readUInt32LE(p) !== 0x02014b50) fail(`central directory entry ${i} is corrupt`)
    const flags = buf.readUInt16LE(p + 8)
    const nameLen = buf.readUInt16LE(p + 28)
    const extraLen = buf.readUInt16LE(p + 30)
    const commentLen = buf.readUInt16LE(p + 32)
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen)
    if ((flags & 1) !== 0) fail(`member ${name} is encrypted`)
    const entry = { name, method: buf.readUInt16LE(p + 10), crc: buf.readUInt32LE(p + 16), compressed: buf.readUInt32LE(p + 20), size: buf.readUInt32LE(p + 24), offset: buf.readUInt32LE(p + 42) }
    if (entry.size === 0xffffffff || entry.compressed === 0xffffffff || entry.offset === 0xffffffff) fail(`member ${name} needs ZIP64, which is not supported`)
    entries.push(entry)
    p += 46 + nameLen + extraLen + commentLen
  }
  return entries
}

function memberBytes (buf: Buffer, e: ZipEntry, source: string): Buffer {
  const fail = (d: string): never => { throw new InvalidNpzError(source, `member ${e.name}: ${d}`) }
  if (e.offset + 30 > buf.length || buf.readUInt32LE(e.offset) !== 0x04034b50) fail('local header is missing or corrupt')
  const start = e.offset + 30 + buf.readUInt16LE(e.offset + 26) + buf.readUInt16LE(e.offset + 28)
  if (start + e.compressed > buf.length) fail(`data runs past the end of the file (${start + e.compressed} > ${buf.length})`)
  if (e.size > MAX_MEMBER_BYTES) fail(`${e.size} bytes uncompressed, over the ${MAX_MEMBER_BYTES} limit`)
  const raw = buf.subarray(start, start + e.compressed)
  let out: Buffer
  if (e.method === 0) out = raw
  else if (e.method === 8) {
    try {
      out = inflateRawSync(raw, { maxOutputLength: e.size + 1 })
    } catch (err) {
      return fail(`deflate stream is corrupt (${(err as Error).message})`)
    }
  } else return fail(`compression method ${e.method} is not supported (stored and deflate are)`)
  if (out.length !== e.size) fail(`${out.length} bytes after decompression, the directory says ${e.size}`)
  if ((crc32(out) >>> 0) !== e.crc) fail('CRC-32 mismatch (the file is corrupt)')
  return out
}

/** Parses one .npy file. */
export function parseNpy (bytes: Uint8Array, source: string): NpyArray {
  const fail = (d: string): never => { throw new InvalidNpzError(source, d) }
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (buf.length < 10 || buf.readUInt8(0) !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY') fail('not a .npy array (bad magic)')
  const major = buf.readUInt8(6)
  if (major < 1 || major > 3) fail(`.npy format version ${major} is not supported`)
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8)
  const start = major === 1 ? 10 : 12
  if (start + headerLen > buf.length) fail('header runs past the end')
  const header = buf.toString(major === 3 ? 'utf8' : 'latin1', start, start + headerLen)
  const descr = /'descr':\s*'([<>|=])([a-z])(\d+)'/.exec(header)
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)
  const shapeM = /'shape':\s*\(([^)]*)\)/.exec(header)
  if (descr === null || fortran === null || shapeM === null) fail(`header is not a .npy header dict: ${header.slice(0, 120)}`)
  if (fortran![1] === 'True') fail('Fortran-order arrays are not supported')
  const dtype = `${descr![2]}${descr![3]}` as NpyDtype
  if (!(dtype in ITEM)) fail(`dtype ${descr![1]}${dtype} is not supported`)
  if (descr![1] === '>' && ITEM[dtype] > 1) fail('big-endian arrays are not supported')
  const shape = shapeM![1]!.split(',').map(s => s.trim()).filter(s => s !== '').map(s => {
    const n = Number(s.replace(/L$/, ''))
    if (!Number.isSafeInteger(n) || n < 0) fail(`shape entry "${s}" is not a size`)
    return n
  })
  let count = 1
  for (const d of shape) count *= d
  const dataStart = start + headerLen
  const bytesNeeded = count * ITEM[dtype]
  if (buf.length - dataStart !== bytesNeeded) fail(`data is ${buf.length - dataStart} bytes, shape (${shape.join(', ')}) of ${dtype} needs ${bytesNeeded}`)
  const copy = new Uint8Array(bytesNeeded)
  copy.set(buf.subarray(dataStart))
  const ab = copy.buffer
  let data: NpyArray['data']
  switch (dtype) {
    case 'u1': case 'b1': data = new Uint8Array(ab); break
    case 'i1': data = new Int8Array(ab); break
    case 'u2': data = new Uint16Array(ab); break
    case 'i2': data = new Int16Array(ab); break
    case 'i4': data = new Int32Array(ab); break
    case 'u4': data = new Uint32Array(ab); break
    case 'f4': data = new Float32Array(ab); break
    case 'f8': data = new Float64Array(ab); break
    case 'i8': {
      const big = new BigInt64Array(ab)
      data = Float64Array.from(big, v => Number(v))
      break
    }
  }
  return { dtype, shape, data }
}

/** Reads every array of an .npz archive, keyed by name without the `.npy` suffix. */
export function parseNpz (bytes: Uint8Array, source: string): Map<string, NpyArray> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out = new Map<string, NpyArray>()
  for (const e of readCentralDirectory(buf, source)) {
    if (!e.name.endsWith('.npy')) throw new InvalidNpzError(source, `member ${e.name} is not a .npy array`)
    const key = e.name.slice(0, -4)
    if (out.has(key)) throw new InvalidNpzError(source, `member ${e.name} appears twice`)
    out.set(key, parseNpy(memberBytes(buf, e, source), `${source}:${e.name}`))
  }
  return out
}
