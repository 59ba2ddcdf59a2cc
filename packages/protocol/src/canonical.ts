// Canonical bytes: DAG-CBOR (deterministic by specification: shortest integer forms, map keys
// sorted by length then bytes, floats always 64-bit, no undefined / NaN / Infinity), and the
// domain-separated bytes that signatures cover.
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { MalformedError } from './errors.ts'

export function encodeCanonical (value: unknown): Uint8Array {
  return dagCbor.encode(value)
}

export function decodeCanonical (bytes: Uint8Array, what: string): unknown {
  try {
    const value = dagCbor.decode(bytes)
    // DAG-CBOR decoders accept some non-canonical forms; require a byte-exact round trip.
    const again = dagCbor.encode(value)
    if (!Buffer.from(again.buffer, again.byteOffset, again.byteLength).equals(bytes)) throw new Error('not in canonical form')
    return value
  } catch (err) {
    if (err instanceof MalformedError) throw err
    throw new MalformedError(what, (err as Error).message)
  }
}

/** CIDv1, dag-cbor codec, sha2-256 of the canonical encoding. */
export function cidOfCanonical (value: unknown): string {
  return cidOfCanonicalBytes(encodeCanonical(value))
}

/**
 * The same CID from bytes already in canonical form, without decoding them: for a valid record's
 * bytes it equals recordCid of the decoded record, so a known record is recognised before any
 * decoding (a match cannot be anything else: the hash commits to every byte).
 */
export function cidOfCanonicalBytes (bytes: Uint8Array): string {
  const digest = sha256.digest(bytes)
  if (digest instanceof Promise) throw new Error('sha256 must be synchronous in Node')
  return CID.createV1(dagCbor.code, digest).toString()
}

/** What a signature covers: `medforge/<record type>/v1`, a zero byte, then the canonical bytes. */
export function signingBytes (recordType: string, unsigned: unknown): Uint8Array {
  const prefix = Buffer.from(`medforge/${recordType}/v1`, 'utf8')
  const body = encodeCanonical(unsigned)
  const out = new Uint8Array(prefix.length + 1 + body.length)
  out.set(prefix, 0)
  out.set(body, prefix.length + 1)
  return out
}
