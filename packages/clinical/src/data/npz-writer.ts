// Writes .npz archives (stored, uncompressed members) that numpy.load reads: used for institution
// shards, so a site's private data is one ordinary file.
import { crc32 } from 'node:zlib'

export interface NpyInput { readonly dtype: 'u1' | 'f4' | 'i4', readonly shape: readonly number[], readonly data: Uint8Array | Float32Array | Int32Array }

function npy (a: NpyInput): Buffer {
  const descr = a.dtype === 'u1' ? '|u1' : `<${a.dtype}`
  const shape = a.shape.length === 1 ? `(${a.shape[0]},)` : `(${a.shape.join(', ')})`
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`
  const total = 10 + header.length + 1
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n'
  const head = Buffer.alloc(10)
  head.writeUInt8(0x93, 0); head.write('NUMPY', 1, 'latin1'); head.writeUInt8(1, 6); head.writeUInt8(0, 7); head.writeUInt16LE(header.length, 8)
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength)])
}

export function encodeNpz (arrays: ReadonlyMap<string, NpyInput>): Uint8Array {
  const locals: Buffer[] = []
  const centrals: Buffer[] = []
  let offset = 0
  for (const [key, array] of arrays) {
    const name = Buffer.from(`${key}.npy`, 'utf8')
    const data = npy(array)
    const crc = crc32(data) >>> 0
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0); local.writeUInt16LE(20, 4); local.writeUInt32LE(crc, 14)
    local.writeUInt32LE(data.length, 18); local.writeUInt32LE(data.length, 22); local.writeUInt16LE(name.length, 26)
    const central = Buffer.alloc(46)
    central.writeUInt32LE(0x02014b50, 0); central.writeUInt16LE(20, 4); central.writeUInt16LE(20, 6); central.writeUInt32LE(crc, 16)
    central.writeUInt32LE(data.length, 20); central.writeUInt32LE(data.length, 24); central.writeUInt16LE(name.length, 28); central.writeUInt32LE(offset, 42)
    locals.push(local, name, data)
    centrals.push(central, name)
    offset += 30 + name.length + data.length
  }
  const cd = Buffer.concat(centrals)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(arrays.size, 8); end.writeUInt16LE(arrays.size, 10)
  end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16)
  return new Uint8Array(Buffer.concat([...locals, cd, end]))
}
