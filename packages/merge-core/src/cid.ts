// Content identifiers: CIDv1, raw codec, sha2-256 — the same kind IPFS uses for raw blocks.
import { createHash } from 'node:crypto'
import type { Hash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'

const RAW_CODEC = 0x55
const SHA2_256 = 0x12

export function cidFromSha256 (digest: Uint8Array): string {
  return CID.createV1(RAW_CODEC, Digest.create(SHA2_256, digest)).toString()
}

export function cidOfBytes (bytes: Uint8Array): string {
  return cidFromSha256(createHash('sha256').update(bytes).digest())
}

/**
 * sha2-256 of CIDs in the given order, each followed by a newline: a state attestation's
 * modulesHash, and the key under which the node stores a Fusion prefix.
 */
export function cidListHash (cids: readonly string[]): Uint8Array {
  const h = createHash('sha256')
  for (const cid of cids) h.update(`${cid}\n`)
  return new Uint8Array(h.digest())
}

/** Parses a CID string and checks it is one of ours (raw, sha2-256); returns undefined otherwise. */
export function parseRawSha256Cid (text: string): CID | undefined {
  try {
    const cid = CID.parse(text)
    return cid.version === 1 && cid.code === RAW_CODEC && cid.multihash.code === SHA2_256 ? cid : undefined
  } catch {
    return undefined
  }
}

/** A sha256 fed incrementally, so large canonical encodings are hashed without being materialised. */
export class Sha256Writer {
  readonly #hash: Hash = createHash('sha256')

  bytes (b: Uint8Array): this { this.#hash.update(b); return this }
  u32 (n: number): this {
    const b = Buffer.alloc(4)
    b.writeUInt32LE(n >>> 0)
    return this.bytes(b)
  }

  string (s: string): this {
    const b = Buffer.from(s, 'utf8')
    return this.u32(b.length).bytes(b)
  }

  f32 (data: Float32Array): this {
    // Float32Array is little-endian on every platform Node supports; safetensors.ts checks the rare other case.
    return this.bytes(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
  }

  digest (): Uint8Array { return this.#hash.digest() }
  cid (): string { return cidFromSha256(this.digest()) }
}
