// What travels on a network's modules topic: a signed record and, for a module announcement, the
// small blobs it names (the module file and the distilled set) attached. With them attached a
// receiver needs no fetch: at 50 daemons the two fetches per module that followed every
// announcement, each a new stream to a busy author, were most of a publication's latency
// (BENCHMARKS.md, issue 16). Larger blobs are left out and fetched over the blob protocol as before.
// The blobs are not signed: the announcement's signature covers their CIDs, and each attached blob
// must hash to one of them.
import { cidOfBytes } from '@medforge/merge-core'
import { decodeCanonical, encodeCanonical } from './canonical.ts'
import { MalformedError, TooLargeError } from './errors.ts'
import type { SignedRecord } from './records.ts'
import { asObject, bytes, onlyKeys } from './schema.ts'

/** The attached blobs of one envelope, in all: the clinical testnet's (20-75 KB each) fit. */
export const MAX_ATTACHED_BLOB_BYTES = 256 * 1024
/** An announcement names two blobs. */
export const MAX_ATTACHED_BLOBS = 2
/** The envelope's own DAG-CBOR map headers and field names, beyond the record and the blobs. */
const ENVELOPE_OVERHEAD = 64

export interface GossipEnvelope {
  /** The record's canonical bytes (decoded and validated as any record). */
  readonly record: Uint8Array
  readonly blobs: readonly Uint8Array[]
}

/** The largest envelope a node whose records are bounded by `maxRecordBytes` accepts. */
export function maxEnvelopeBytes (maxRecordBytes: number): number {
  return maxRecordBytes + MAX_ATTACHED_BLOB_BYTES + ENVELOPE_OVERHEAD
}

export function encodeGossipEnvelope (envelope: GossipEnvelope): Uint8Array {
  return encodeCanonical({ record: envelope.record, blobs: [...envelope.blobs] })
}

/**
 * Blobs to attach, in the order given: each one while the total stays within the limit (a module
 * file too large to attach still lets a small distilled set travel).
 */
export function blobsToAttach (candidates: readonly Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = []
  let total = 0
  for (const b of candidates) {
    if (total + b.length > MAX_ATTACHED_BLOB_BYTES) continue
    out.push(b)
    total += b.length
  }
  return out
}

/** Decodes an envelope; sizes are checked before decoding, then every field's shape and bound. */
export function decodeGossipEnvelope (data: Uint8Array, maxRecordBytes: number): GossipEnvelope {
  const what = 'gossip envelope'
  const limit = maxEnvelopeBytes(maxRecordBytes)
  if (data.length > limit) throw new TooLargeError(what, data.length, limit)
  const o = asObject(decodeCanonical(data, what), what)
  onlyKeys(o, ['record', 'blobs'], what)
  const record = bytes(o, 'record', what)
  if (record.length > maxRecordBytes) throw new TooLargeError(`${what} record`, record.length, maxRecordBytes)
  const blobs = o.blobs
  if (!Array.isArray(blobs) || blobs.length > MAX_ATTACHED_BLOBS) throw new MalformedError(what, `blobs must be a list of at most ${MAX_ATTACHED_BLOBS} byte strings`)
  let total = 0
  for (const b of blobs) {
    if (!(b instanceof Uint8Array) || b.length === 0) throw new MalformedError(what, 'each blob must be a non-empty byte string')
    total += b.length
  }
  if (total > MAX_ATTACHED_BLOB_BYTES) throw new TooLargeError(`${what} blobs`, total, MAX_ATTACHED_BLOB_BYTES)
  return { record, blobs: blobs as Uint8Array[] }
}

export type AttachedBlobs =
  | { readonly ok: true, readonly blobs: ReadonlyMap<string, Uint8Array> }
  | { readonly ok: false, readonly code: 'hash_mismatch' | 'malformed', readonly detail: string }

/**
 * Matches attached blobs to the CIDs a record names: only a module announcement carries blobs,
 * each must hash to its `moduleBlob` or `distilled`, and none twice. Hashes at most
 * MAX_ATTACHED_BLOB_BYTES, so it runs after the record's signature has verified.
 */
export function matchAttachedBlobs (record: SignedRecord, attached: readonly Uint8Array[]): AttachedBlobs {
  const out = new Map<string, Uint8Array>()
  if (attached.length === 0) return { ok: true, blobs: out }
  if (record.type !== 'module-announcement') return { ok: false, code: 'malformed', detail: `a ${record.type} carries no blobs; ${attached.length} attached` }
  const named = new Set([record.moduleBlob, record.distilled])
  for (const [i, blob] of attached.entries()) {
    const cid = cidOfBytes(blob)
    if (!named.has(cid)) return { ok: false, code: 'hash_mismatch', detail: `attached blob ${i} (${blob.length} bytes) hashes to ${cid}, which the announcement does not name (module blob ${record.moduleBlob}, distilled set ${record.distilled})` }
    if (out.has(cid)) return { ok: false, code: 'malformed', detail: `blob ${cid} is attached twice` }
    out.set(cid, blob)
  }
  return { ok: true, blobs: out }
}
