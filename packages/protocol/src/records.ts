// The signed records that cross the wire. Each is a DAG-CBOR map with a `type`; the author's
// Ed25519 signature covers `medforge/<type>/v1 \0 canonical(record without signature)`.
import { cidOfCanonical, decodeCanonical, encodeCanonical, signingBytes } from './canonical.ts'
import { MalformedError } from './errors.ts'
import type { Identity } from './identity.ts'
import { asObject, bytes, int, onlyKeys, str } from './schema.ts'
import type { Obj } from './schema.ts'
import { parseManifestBody } from './manifest.ts'
import type { SignedManifest } from './manifest.ts'

export interface ModuleAnnouncement {
  readonly type: 'module-announcement'
  readonly network: string
  readonly task: string
  /** merge-core's module CID (LoRA factors + identity config). */
  readonly module: string
  /** CID of the blob holding the module's adapter file. */
  readonly moduleBlob: string
  readonly distilled: string
  readonly head: string | null
  readonly parentRoot: string
  /** parent state height + 1 */
  readonly height: number
  readonly samples: number
  readonly metrics: Readonly<Record<string, number>>
  readonly createdAt: number
  readonly author: string
  readonly signature: Uint8Array
}

export interface StateAttestation {
  readonly type: 'state-attestation'
  readonly network: string
  readonly height: number
  /** sha2-256 of the module CIDs in canonical order, each followed by a newline. */
  readonly modulesHash: Uint8Array
  readonly moduleCount: number
  /**
   * The module that sets the height: the input at the attested height (the smallest CID among
   * ties); null for the empty state at height 0. A peer accepts the root as a parent only at the
   * height this module has in its own ledger, so no one can make up heights.
   */
  readonly tip: string | null
  readonly stateRoot: string
  readonly engine: string
  readonly createdAt: number
  readonly author: string
  readonly signature: Uint8Array
}

export interface RevocationSignature { readonly peerId: string, readonly signature: Uint8Array }

export interface Revocation {
  readonly type: 'revocation'
  readonly network: string
  readonly module: string
  /** The author of the withdrawn module's announcement. */
  readonly moduleAuthor: string
  readonly reason: string
  readonly createdAt: number
  /** The module's author alone, or a quorum of members. */
  readonly signatures: readonly RevocationSignature[]
}

/**
 * A manifest revision on the wire: gossiped by whoever hands it to its daemon, served by sync to
 * late joiners, applied by every member once it verifies (quorum of the parent's governing
 * members, next in the chain). Its signatures are the manifest's own.
 */
export interface ManifestRevision {
  readonly type: 'manifest-revision'
  readonly network: string
  readonly manifest: SignedManifest
}

export type SignedRecord = ModuleAnnouncement | StateAttestation | Revocation | ManifestRevision
export type RecordType = SignedRecord['type']
export const RECORD_TYPES: readonly RecordType[] = ['module-announcement', 'state-attestation', 'revocation', 'manifest-revision']

type Unsigned<T> = T extends Revocation ? Omit<T, 'signatures'> : Omit<T, 'signature'>

/** Who a record speaks for: its author, a revocation's first signer, a revision's first signer. */
export function recordAuthor (record: SignedRecord): string {
  switch (record.type) {
    case 'revocation': return record.signatures[0]?.peerId ?? record.moduleAuthor
    case 'manifest-revision': return record.manifest.signatures[0]?.peerId ?? ''
    default: return record.author
  }
}

export function unsigned<T extends ModuleAnnouncement | StateAttestation | Revocation> (record: T): Unsigned<T> {
  const copy: Record<string, unknown> = { ...record }
  delete copy.signature
  delete copy.signatures
  return copy as Unsigned<T>
}

export async function signRecord<T extends ModuleAnnouncement | StateAttestation> (body: Omit<T, 'signature' | 'author'>, identity: Identity): Promise<T> {
  const withAuthor = { ...body, author: identity.peerId }
  const signature = Uint8Array.from(await identity.privateKey.sign(signingBytes(body.type, withAuthor)))
  return { ...withAuthor, signature } as unknown as T
}

export async function addRevocationSignature (revocation: Omit<Revocation, 'signatures'> & { signatures?: readonly RevocationSignature[] }, identity: Identity): Promise<Revocation> {
  const body = unsigned({ ...revocation, signatures: [] } as Revocation)
  const signature = Uint8Array.from(await identity.privateKey.sign(signingBytes('revocation', body)))
  const others = (revocation.signatures ?? []).filter(s => s.peerId !== identity.peerId)
  return { ...body, signatures: [...others, { peerId: identity.peerId, signature }].sort((a, b) => a.peerId < b.peerId ? -1 : 1) }
}

export function encodeRecord (record: SignedRecord): Uint8Array {
  return encodeCanonical(record)
}

export function recordCid (record: SignedRecord): string {
  return cidOfCanonical(record)
}

/** Decodes and schema-checks a record; throws MalformedError naming the field at fault. */
export function decodeRecord (data: Uint8Array): SignedRecord {
  const o = asObject(decodeCanonical(data, 'record'), 'record')
  const type = o.type
  switch (type) {
    case 'module-announcement': return parseAnnouncement(o)
    case 'state-attestation': return parseAttestation(o)
    case 'revocation': return parseRevocation(o)
    case 'manifest-revision': return parseRevision(o)
    default: throw new MalformedError('record', `unknown type ${JSON.stringify(type)}`)
  }
}

const W = 'module-announcement'
function parseAnnouncement (o: Obj): ModuleAnnouncement {
  onlyKeys(o, ['type', 'network', 'task', 'module', 'moduleBlob', 'distilled', 'head', 'parentRoot', 'height', 'samples', 'metrics', 'createdAt', 'author', 'signature'], W)
  const metrics = asObject(o.metrics, W, 'metrics')
  if (Object.keys(metrics).length > 32) throw new MalformedError(W, 'metrics has more than 32 entries')
  for (const [k, v] of Object.entries(metrics)) {
    if (k.length > 64 || typeof v !== 'number' || !Number.isFinite(v)) throw new MalformedError(W, `metrics.${k} must be a finite number`)
  }
  return {
    type: 'module-announcement',
    network: str(o, 'network', W, 128),
    task: str(o, 'task', W, 64),
    module: str(o, 'module', W, 128),
    moduleBlob: str(o, 'moduleBlob', W, 128),
    distilled: str(o, 'distilled', W, 128),
    head: o.head === null ? null : str(o, 'head', W, 128),
    parentRoot: str(o, 'parentRoot', W, 128),
    height: int(o, 'height', W, 1),
    samples: int(o, 'samples', W, 1),
    metrics: metrics as Record<string, number>,
    createdAt: int(o, 'createdAt', W),
    author: str(o, 'author', W, 128),
    signature: bytes(o, 'signature', W, 64)
  }
}

const A = 'state-attestation'
function parseAttestation (o: Obj): StateAttestation {
  onlyKeys(o, ['type', 'network', 'height', 'modulesHash', 'moduleCount', 'tip', 'stateRoot', 'engine', 'createdAt', 'author', 'signature'], A)
  const height = int(o, 'height', A)
  const moduleCount = int(o, 'moduleCount', A)
  const tip = o.tip === null ? null : str(o, 'tip', A, 128)
  if ((height === 0) !== (tip === null) || (height === 0) !== (moduleCount === 0)) throw new MalformedError(A, `height ${height}, ${moduleCount} module(s) and tip ${tip ?? 'null'} disagree (the empty state alone has height 0 and no tip)`)
  return {
    type: 'state-attestation',
    network: str(o, 'network', A, 128),
    height,
    modulesHash: bytes(o, 'modulesHash', A, 32),
    moduleCount,
    tip,
    stateRoot: str(o, 'stateRoot', A, 128),
    engine: str(o, 'engine', A, 64),
    createdAt: int(o, 'createdAt', A),
    author: str(o, 'author', A, 128),
    signature: bytes(o, 'signature', A, 64)
  }
}

const M = 'manifest-revision'
function parseRevision (o: Obj): ManifestRevision {
  onlyKeys(o, ['type', 'network', 'manifest'], M)
  const m = asObject(o.manifest, M, 'manifest')
  onlyKeys(m, ['body', 'signatures'], M)
  const body = parseManifestBody(m.body)
  if (body.revision === 0) throw new MalformedError(M, 'a genesis manifest is not a revision')
  const sigs = m.signatures
  if (!Array.isArray(sigs) || sigs.length === 0 || sigs.length > 1000) throw new MalformedError(M, 'signatures must be a non-empty list')
  return {
    type: 'manifest-revision',
    network: str(o, 'network', M, 128),
    manifest: {
      body,
      signatures: sigs.map(s => {
        const so = asObject(s, M, 'signature')
        onlyKeys(so, ['peerId', 'signature'], M)
        return { peerId: str(so, 'peerId', M, 128), signature: str(so, 'signature', M, 200) }
      })
    }
  }
}

const R = 'revocation'
function parseRevocation (o: Obj): Revocation {
  onlyKeys(o, ['type', 'network', 'module', 'moduleAuthor', 'reason', 'createdAt', 'signatures'], R)
  const sigs = o.signatures
  if (!Array.isArray(sigs) || sigs.length === 0 || sigs.length > 1000) throw new MalformedError(R, 'signatures must be a non-empty list')
  return {
    type: 'revocation',
    network: str(o, 'network', R, 128),
    module: str(o, 'module', R, 128),
    moduleAuthor: str(o, 'moduleAuthor', R, 128),
    reason: typeof o.reason === 'string' && o.reason.length <= 1024 ? o.reason : (() => { throw new MalformedError(R, 'reason must be a string of at most 1024 characters') })(),
    createdAt: int(o, 'createdAt', R),
    signatures: sigs.map(s => {
      const so = asObject(s, R, 'signature')
      onlyKeys(so, ['peerId', 'signature'], R)
      return { peerId: str(so, 'peerId', R, 128), signature: bytes(so, 'signature', R, 64) }
    })
  }
}
