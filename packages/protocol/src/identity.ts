// Institution identities: Ed25519 keys from @libp2p/crypto, so the same key is the daemon's
// libp2p peer identity; the public identity is the peer id string.
import { createPublicKey, verify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { chmodSync, readFileSync } from 'node:fs'
import { generateKeyPair, generateKeyPairFromSeed, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import type { Ed25519PrivateKey, PublicKey } from '@libp2p/interface'
import { InvalidKeyFileError } from './errors.ts'

export interface Identity {
  readonly privateKey: Ed25519PrivateKey
  readonly peerId: string
}

export async function newIdentity (seed?: Uint8Array): Promise<Identity> {
  const privateKey = seed === undefined ? await generateKeyPair('Ed25519') : await generateKeyPairFromSeed('Ed25519', seed)
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString() }
}

/** The public key embedded in an Ed25519 peer id; undefined for anything else. */
export function publicKeyOfPeerId (peerId: string): PublicKey | undefined {
  try {
    const id = peerIdFromString(peerId)
    return id.type === 'Ed25519' ? id.publicKey : undefined
  } catch {
    return undefined
  }
}

/** DER header of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the 32-byte key follows it. */
const ED25519_SPKI_HEADER = Buffer.from('302a300506032b6570032100', 'hex')
/** Members' keys, parsed once: @libp2p/crypto builds a key object from a JWK on every verify. */
const MAX_CACHED_KEYS = 4096
const keyObjects = new Map<string, KeyObject>()

function keyObjectOfPeerId (peerId: string): KeyObject | undefined {
  let key = keyObjects.get(peerId)
  if (key === undefined) {
    const raw = publicKeyOfPeerId(peerId)?.raw
    if (raw === undefined) return undefined
    key = createPublicKey({ key: Buffer.concat([ED25519_SPKI_HEADER, raw]), format: 'der', type: 'spki' })
    if (keyObjects.size >= MAX_CACHED_KEYS) keyObjects.delete(keyObjects.keys().next().value!)
    keyObjects.set(peerId, key)
  }
  return key
}

/** Whether `signature` is `peerId`'s Ed25519 signature of `message`; false for any other peer id or a signature of the wrong size. */
export function verifyPeerSignature (peerId: string, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false
  const key = keyObjectOfPeerId(peerId)
  return key !== undefined && verify(null, message, key, signature)
}

export const KEY_FILE_TYPE = 'medforge-institution-key/v1'

export function encodeKeyFile (identity: Identity, name?: string): string {
  return JSON.stringify({
    type: KEY_FILE_TYPE,
    peerId: identity.peerId,
    ...(name === undefined ? {} : { name }),
    privateKey: Buffer.from(privateKeyToProtobuf(identity.privateKey)).toString('base64')
  }, null, 2) + '\n'
}

export function decodeKeyFile (text: string, path: string): Identity & { name?: string } {
  let json: Record<string, unknown>
  try {
    json = JSON.parse(text) as Record<string, unknown>
  } catch {
    throw new InvalidKeyFileError(path, 'not a JSON key file')
  }
  if (json.type !== KEY_FILE_TYPE) throw new InvalidKeyFileError(path, `type is ${JSON.stringify(json.type)}, expected "${KEY_FILE_TYPE}"`)
  if (typeof json.privateKey !== 'string') throw new InvalidKeyFileError(path, 'privateKey is missing')
  let key
  try {
    key = privateKeyFromProtobuf(Buffer.from(json.privateKey, 'base64'))
  } catch (err) {
    throw new InvalidKeyFileError(path, `privateKey does not decode: ${(err as Error).message}`)
  }
  if (key.type !== 'Ed25519') throw new InvalidKeyFileError(path, `key type ${key.type} is not Ed25519`)
  const peerId = peerIdFromPrivateKey(key).toString()
  if (json.peerId !== undefined && json.peerId !== peerId) throw new InvalidKeyFileError(path, `peerId ${String(json.peerId)} does not match the private key (${peerId})`)
  return { privateKey: key, peerId, ...(typeof json.name === 'string' ? { name: json.name } : {}) }
}

export function readKeyFile (path: string): Identity & { name?: string } {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new InvalidKeyFileError(path, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  return decodeKeyFile(text, path)
}

/** Key files hold a private key: owner-only permissions. */
export function restrictKeyFile (path: string): void {
  chmodSync(path, 0o600)
}
