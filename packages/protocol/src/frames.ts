// Framing of the two stream protocols. Every message is one unsigned-varint length-prefixed frame
// (it-length-prefixed's format) holding DAG-CBOR, except blob data chunks, which are raw bytes.
// Lengths are checked against their bound before any payload is read.
import { createHash } from 'node:crypto'
import * as lp from 'it-length-prefixed'
import { Uint8ArrayList } from 'uint8arraylist'
import * as varint from 'uint8-varint'
import { cidFromSha256 } from '@medforge/merge-core'
import { decodeCanonical, encodeCanonical } from './canonical.ts'
import { HashMismatchError, MalformedError, RemoteStatusError, TooLargeError } from './errors.ts'
import { asObject, int, onlyKeys, str } from './schema.ts'
import type { Obj } from './schema.ts'

export const BLOB_PROTOCOL = '/medforge/blob/1.0.0'
/** 2.0.0: an inventory of record CIDs first, then only the records the asker lacks (1.0.0 sent every record). */
export const SYNC_PROTOCOL = '/medforge/sync/2.0.0'
/** A control frame (request, header, sync page) never needs more than this. */
export const MAX_CONTROL_FRAME = 4 * 1024 * 1024
export const DEFAULT_CHUNK_BYTES = 256 * 1024
/** Records per `records` answer. */
export const MAX_SYNC_PAGE = 256
/** Record CIDs per inventory page. */
export const MAX_SYNC_INVENTORY = 1024
/** A sync request (at most MAX_SYNC_PAGE CIDs) fits in this. */
export const MAX_SYNC_REQUEST = 64 * 1024

export type BlobStatus = 'ok' | 'not_found' | 'too_large' | 'error'
export const BLOB_STATUSES: readonly BlobStatus[] = ['ok', 'not_found', 'too_large', 'error']

export interface BlobRequest { readonly cid: string }
export interface BlobResponseHeader { readonly status: BlobStatus, readonly size: number, readonly message: string }
/**
 * Sync asks in two steps: `ids` pages through the CIDs of a peer's accepted records in its arrival
 * order; `records` fetches the ones the asker does not have (most it already got by gossip).
 */
export type SyncRequest =
  | { readonly want: 'ids', readonly network: string, readonly after: number, readonly limit: number }
  | { readonly want: 'records', readonly network: string, readonly ids: readonly string[] }
/** `next`: the sequence number to resume after; null once nothing is left. */
export interface SyncInventory { readonly ids: readonly string[], readonly next: number | null }
/** The records asked for, in the order asked; unknown ones left out, and cut short to fit a frame. */
export interface SyncRecords { readonly records: readonly Uint8Array[] }

/** One frame: unsigned varint length, then the payload. */
export function encodeFrame (payload: Uint8Array): Uint8Array {
  return lp.encode.single(payload).subarray()
}

/** Splits one frame off the front of `data`; a truncated or oversized frame is a typed error. */
export function decodeFrame (data: Uint8Array, maxLength: number): { payload: Uint8Array, rest: Uint8Array } {
  let length = 0
  let shift = 1
  let i = 0
  for (;; i++) {
    if (i >= data.length) throw new MalformedError('frame', 'truncated length prefix')
    if (i >= 8) throw new MalformedError('frame', 'length prefix longer than 8 bytes')
    const b = data[i]!
    length += (b & 0x7f) * shift
    shift *= 128
    if ((b & 0x80) === 0) break
  }
  if (i > 0 && data[i] === 0) throw new MalformedError('frame', 'length prefix is not minimal')
  if (length > maxLength) throw new TooLargeError('frame', length, maxLength)
  const start = i + 1
  if (data.length - start < length) throw new MalformedError('frame', `payload truncated: ${data.length - start} of ${length} bytes`)
  return { payload: data.subarray(start, start + length), rest: data.subarray(start + length) }
}

export function encodeBlobRequest (req: BlobRequest): Uint8Array {
  return encodeFrame(encodeCanonical({ cid: req.cid }))
}

/** Decodes a control frame's DAG-CBOR map and refuses fields outside `keys`. */
function decodeMap (payload: Uint8Array, what: string, keys: readonly string[]): Obj {
  const o = asObject(decodeCanonical(payload, what), what)
  onlyKeys(o, keys, what)
  return o
}

export function decodeBlobRequest (payload: Uint8Array): BlobRequest {
  const o = decodeMap(payload, 'blob request', ['cid'])
  return { cid: str(o, 'cid', 'blob request', 128) }
}

export function encodeBlobResponseHeader (h: BlobResponseHeader): Uint8Array {
  return encodeFrame(encodeCanonical({ status: h.status, size: h.size, message: h.message }))
}

export function decodeBlobResponseHeader (payload: Uint8Array): BlobResponseHeader {
  const what = 'blob response'
  const o = decodeMap(payload, what, ['status', 'size', 'message'])
  const status = o.status
  if (!(BLOB_STATUSES as readonly unknown[]).includes(status)) throw new MalformedError(what, `unknown status ${JSON.stringify(status)}`)
  const message = o.message
  if (typeof message !== 'string' || message.length > 1024) throw new MalformedError(what, 'message must be a string of at most 1024 characters')
  return { status: status as BlobStatus, size: int(o, 'size', what), message }
}

/**
 * The frames a server sends for a blob: an ok header with the size, then data chunks. A data frame
 * is its length prefix and a view of the blob side by side (no copy of the payload).
 */
export function * blobResponseFrames (data: Uint8Array, chunkBytes = DEFAULT_CHUNK_BYTES): Generator<Uint8Array | Uint8ArrayList> {
  yield * blobResponseFramesFrom(data.length, (function * () {
    for (let off = 0; off < data.length; off += chunkBytes) yield data.subarray(off, off + chunkBytes)
  })())
}

/** The same frames from chunks read one at a time (a server streaming a blob from disk). */
export function * blobResponseFramesFrom (size: number, chunks: Iterable<Uint8Array>): Generator<Uint8Array | Uint8ArrayList> {
  yield encodeBlobResponseHeader({ status: 'ok', size, message: '' })
  for (const chunk of chunks) yield new Uint8ArrayList(varint.encode(chunk.length), chunk)
}

export function encodeSyncRequest (req: SyncRequest): Uint8Array {
  return encodeFrame(encodeCanonical(req.want === 'ids'
    ? { want: req.want, network: req.network, after: req.after, limit: req.limit }
    : { want: req.want, network: req.network, ids: [...req.ids] }))
}

export function decodeSyncRequest (payload: Uint8Array): SyncRequest {
  const what = 'sync request'
  const o = asObject(decodeCanonical(payload, what), what)
  if (o.want === 'ids') {
    onlyKeys(o, ['want', 'network', 'after', 'limit'], what)
    return { want: 'ids', network: str(o, 'network', what, 128), after: int(o, 'after', what), limit: int(o, 'limit', what, 1, MAX_SYNC_INVENTORY) }
  }
  if (o.want === 'records') {
    onlyKeys(o, ['want', 'network', 'ids'], what)
    return { want: 'records', network: str(o, 'network', what, 128), ids: recordIds(o.ids, what, MAX_SYNC_PAGE) }
  }
  throw new MalformedError(what, 'want must be "ids" or "records"')
}

// A record CID as the ledger keys it: CIDv1, base32 (multibase prefix "b"), lowercase.
const RECORD_ID = /^b[a-z2-7]{8,120}$/

function recordIds (v: unknown, what: string, max: number): string[] {
  if (!Array.isArray(v) || v.length > max) throw new MalformedError(what, `ids must be a list of at most ${max} record CIDs`)
  for (const id of v) if (typeof id !== 'string' || !RECORD_ID.test(id)) throw new MalformedError(what, 'each id must be a base32 CIDv1 string')
  return v as string[]
}

export function encodeSyncInventory (res: SyncInventory): Uint8Array {
  return encodeFrame(encodeCanonical({ ids: [...res.ids], next: res.next }))
}

export function decodeSyncInventory (payload: Uint8Array): SyncInventory {
  const what = 'sync inventory'
  const o = decodeMap(payload, what, ['ids', 'next'])
  const ids = recordIds(o.ids, what, MAX_SYNC_INVENTORY)
  return { ids, next: o.next === null ? null : int(o, 'next', what) }
}

export function encodeSyncRecords (res: SyncRecords): Uint8Array {
  return encodeFrame(encodeCanonical({ records: [...res.records] }))
}

export function decodeSyncRecords (payload: Uint8Array, maxRecordBytes: number): SyncRecords {
  const what = 'sync records'
  const o = decodeMap(payload, what, ['records'])
  const records = o.records
  if (!Array.isArray(records) || records.length > MAX_SYNC_PAGE) throw new MalformedError(what, `records must be a list of at most ${MAX_SYNC_PAGE}`)
  for (const r of records) {
    if (!(r instanceof Uint8Array)) throw new MalformedError(what, 'each record must be bytes')
    if (r.length > maxRecordBytes) throw new TooLargeError('synced record', r.length, maxRecordBytes)
  }
  return { records: records as Uint8Array[] }
}

export interface ReadBlobOptions {
  readonly cid: string
  /** The most this side accepts (the network's maxModuleBytes). */
  readonly maxBytes: number
  readonly maxChunkBytes?: number
  readonly signal?: AbortSignal
}

/**
 * Reads a blob response from a stream and returns the bytes only if they hash to the requested
 * CID. Never buffers more than `maxBytes`; a stream that ends early, sends too much or sends the
 * wrong bytes is a typed error.
 */
export async function readBlobResponse (source: AsyncIterable<Uint8Array | Uint8ArrayList>, options: ReadBlobOptions): Promise<Uint8Array> {
  const maxChunk = options.maxChunkBytes ?? DEFAULT_CHUNK_BYTES
  let header: BlobResponseHeader | undefined
  let out: Uint8Array | undefined
  let received = 0
  // Hashed as the chunks arrive, so the digest costs no extra pass (and overlaps network waits).
  const hash = createHash('sha256')
  for await (const frame of lp.decode(source, { maxDataLength: Math.max(maxChunk, MAX_CONTROL_FRAME) })) {
    options.signal?.throwIfAborted()
    if (header === undefined) {
      header = decodeBlobResponseHeader(frame.subarray())
      if (header.status !== 'ok') throw new RemoteStatusError(header.status, header.message)
      if (header.size > options.maxBytes) throw new TooLargeError(`blob ${options.cid}`, header.size, options.maxBytes)
      out = new Uint8Array(header.size)
      if (header.size === 0) break
      continue
    }
    if (frame.byteLength > maxChunk) throw new TooLargeError('blob chunk', frame.byteLength, maxChunk)
    if (received + frame.byteLength > header.size) throw new MalformedError('blob stream', `more than the announced ${header.size} bytes`)
    // Copy each underlying buffer once into place (no intermediate concatenation of the frame).
    for (const part of frame) {
      out!.set(part, received)
      hash.update(part)
      received += part.byteLength
    }
    if (received === header.size) break
  }
  if (header === undefined) throw new MalformedError('blob stream', 'ended before the response header')
  if (received !== header.size) throw new MalformedError('blob stream', `ended after ${received} of ${header.size} bytes`)
  const actual = cidFromSha256(hash.digest())
  if (actual !== options.cid) throw new HashMismatchError(options.cid, actual)
  return out!
}
