// Gossip validation, one function per record type. Checks run cheapest first: size before
// decoding, decoding before membership and time, signature last. `reject` only for what is
// provably bad; `ignore` for what may become valid later.
import { cidOfCanonicalBytes, signingBytes } from './canonical.ts'
import { accept, ignore, reject } from './codes.ts'
import type { ValidationResult } from './codes.ts'
import { verifyPeerSignature } from './identity.ts'
import { MalformedError, ManifestVerificationError } from './errors.ts'
import { manifestCid, verifyManifestChain } from './manifest.ts'
import type { Member, SignedManifest } from './manifest.ts'
import { decodeRecord, unsigned } from './records.ts'
import type { ManifestRevision, ModuleAnnouncement, Revocation, SignedRecord, StateAttestation } from './records.ts'

export interface ValidationContext {
  /** The network CID this topic belongs to. */
  readonly network: string
  readonly members: ReadonlyMap<string, Member>
  readonly revoked: ReadonlySet<string>
  readonly quorum: number
  readonly tasks: ReadonlySet<string>
  /** The manifest chain this node runs (genesis first): what a revision must extend. */
  readonly chain?: readonly SignedManifest[]
  readonly maxMessageBytes: number
  readonly now: number
  /** How far in the future a createdAt may be (clock skew), default 5 minutes; beyond an hour it is rejected. */
  readonly maxClockSkewMs?: number
  /**
   * For gossip only: records older than this are replays (honest peers gossip fresh records and
   * serve old ones over sync) and are rejected as stale.
   */
  readonly maxAgeMs?: number
  /** True when the author already announced a different module for the same task at the same height. */
  readonly equivocates?: (announcement: ModuleAnnouncement) => boolean
  /** The module's author when this node has checked it (the module file names it); undefined before. */
  readonly moduleAuthor?: (module: string) => string | undefined
  readonly isKnownRecord: (recordCid: string) => boolean
  /** The height of a state root this node knows (computed or attested); undefined when unknown. */
  readonly rootHeight: (stateRoot: string) => number | undefined
  /**
   * Whether this node computed the root itself (its height is then certain). A height known only
   * from a peer's attestation is a claim: a mismatch with it is not proof against the announcement.
   */
  readonly isComputedRoot?: (stateRoot: string) => boolean
}

type Result<T> = ValidationResult<T>

type Decoded = { readonly record: SignedRecord, readonly refusal?: undefined } | { readonly record?: undefined, readonly refusal: Result<never> }

function decodeSized (data: Uint8Array, ctx: ValidationContext): Decoded {
  if (data.length > ctx.maxMessageBytes) return { refusal: reject('too_large', `message is ${data.length} bytes, limit ${ctx.maxMessageBytes}`) }
  try {
    return { record: decodeRecord(data) }
  } catch (err) {
    if (err instanceof MalformedError) return { refusal: reject('malformed', err.message) }
    throw err
  }
}

function checkAuthor<T> (author: string, ctx: ValidationContext, record: T): Result<T> | undefined {
  if (ctx.revoked.has(author)) return reject('revoked_member', `${author} was revoked from the network`, record)
  if (!ctx.members.has(author)) return reject('not_a_member', `${author} is not a member of the network`, record)
  return undefined
}

/** A clock can be off by minutes; a record dated more than this ahead is not a clock problem. */
export const FAR_FUTURE_MS = 3_600_000

function checkTime<T> (createdAt: number, ctx: ValidationContext, record: T): Result<T> | undefined {
  const skew = ctx.maxClockSkewMs ?? 300_000
  if (createdAt > ctx.now + Math.max(skew, FAR_FUTURE_MS)) return reject('future_timestamp', `createdAt is ${createdAt - ctx.now} ms in the future`, record)
  if (createdAt > ctx.now + skew) return ignore('future_timestamp', `createdAt is ${createdAt - ctx.now} ms in the future`, record)
  if (ctx.maxAgeMs !== undefined && createdAt < ctx.now - ctx.maxAgeMs) return reject('stale', `createdAt is ${ctx.now - createdAt} ms old; records this old travel by sync, not gossip`, record)
  return undefined
}

function checkSignature<T extends ModuleAnnouncement | StateAttestation> (record: T): boolean {
  return verifyPeerSignature(record.author, signingBytes(record.type, unsigned(record)), record.signature)
}

/** Any record, decoded once and checked by its type's rules; the result carries its CID once decoded. */
export async function validateRecord (data: Uint8Array, ctx: ValidationContext): Promise<Result<SignedRecord>> {
  const { record, refusal } = decodeSized(data, ctx)
  if (refusal !== undefined || record === undefined) return refusal!
  // The decoder proved the bytes canonical, so their hash is the record's CID (no re-encoding).
  const cid = cidOfCanonicalBytes(data)
  const result = await checkRecord(record, cid, ctx)
  return { ...result, cid }
}

async function checkRecord (record: SignedRecord, cid: string, ctx: ValidationContext): Promise<Result<SignedRecord>> {
  switch (record.type) {
    case 'module-announcement': return await checkAnnouncement(record, cid, ctx)
    case 'state-attestation': return await checkAttestation(record, cid, ctx)
    case 'revocation': return await checkRevocation(record, cid, ctx)
    case 'manifest-revision': return await checkManifestRevision(record, cid, ctx)
  }
}

async function validateAs<T extends SignedRecord> (type: T['type'], data: Uint8Array, ctx: ValidationContext, check: (r: T, cid: string, ctx: ValidationContext) => Promise<Result<T>>): Promise<Result<T>> {
  const { record, refusal } = decodeSized(data, ctx)
  if (refusal !== undefined || record === undefined) return refusal!
  if (record.type !== type) return reject('unknown_type', `expected a ${type}, got a ${record.type}`)
  const cid = cidOfCanonicalBytes(data)
  return { ...await check(record as T, cid, ctx), cid }
}

export async function validateModuleAnnouncement (data: Uint8Array, ctx: ValidationContext): Promise<Result<ModuleAnnouncement>> {
  return await validateAs('module-announcement', data, ctx, checkAnnouncement)
}

export async function validateStateAttestation (data: Uint8Array, ctx: ValidationContext): Promise<Result<StateAttestation>> {
  return await validateAs('state-attestation', data, ctx, checkAttestation)
}

export async function validateRevocation (data: Uint8Array, ctx: ValidationContext): Promise<Result<Revocation>> {
  return await validateAs('revocation', data, ctx, checkRevocation)
}

async function checkAnnouncement (r: ModuleAnnouncement, cid: string, ctx: ValidationContext): Promise<Result<ModuleAnnouncement>> {
  if (r.network !== ctx.network) return reject('unknown_network', `announcement is for network ${r.network}`, r)
  if (!ctx.tasks.has(r.task)) return reject('unknown_task', `task "${r.task}" is not in the network's registry`, r)
  const author = checkAuthor(r.author, ctx, r)
  if (author !== undefined) return author
  if (!(ctx.members.get(r.author)!.roles.includes('contributor'))) return reject('not_authorized', `${r.author} is not a contributor`, r)
  const time = checkTime(r.createdAt, ctx, r)
  if (time !== undefined) return time
  if (ctx.isKnownRecord(cid)) return ignore('duplicate', 'already seen', r)
  const parentHeight = ctx.rootHeight(r.parentRoot)
  if (parentHeight !== undefined && r.height !== parentHeight + 1) {
    const detail = `height is ${r.height}, its parent state is at height ${parentHeight}`
    // Reject only against a height this node computed: an attested height may be the liar.
    return ctx.isComputedRoot?.(r.parentRoot) === false ? ignore('wrong_height', `${detail} (as attested by a peer, not computed here)`, r) : reject('wrong_height', detail, r)
  }
  if (!checkSignature(r)) return reject('bad_signature', `signature does not verify for ${r.author}`, r)
  // Only a signed announcement may wait for its parent: forged ones must not fill the pending pool.
  if (parentHeight === undefined) return ignore('parent_unknown', `parent state root ${r.parentRoot} is not known yet`, r)
  const owner = ctx.moduleAuthor?.(r.module)
  if (owner !== undefined && owner !== r.author) return reject('not_module_author', `module ${r.module} is ${owner}'s (its file names its author); ${r.author} cannot announce it`, r)
  // After the signature: only the author's own signature proves it announced both modules.
  if (ctx.equivocates?.(r) === true) return reject('equivocation', `${r.author} already announced a different ${r.task} module at height ${r.height}`, r)
  return accept(r)
}

async function checkAttestation (r: StateAttestation, cid: string, ctx: ValidationContext): Promise<Result<StateAttestation>> {
  if (r.network !== ctx.network) return reject('unknown_network', `attestation is for network ${r.network}`, r)
  const author = checkAuthor(r.author, ctx, r)
  if (author !== undefined) return author
  const time = checkTime(r.createdAt, ctx, r)
  if (time !== undefined) return time
  if (ctx.isKnownRecord(cid)) return ignore('duplicate', 'already seen', r)
  if (!checkSignature(r)) return reject('bad_signature', `signature does not verify for ${r.author}`, r)
  return accept(r)
}

/**
 * A revision is applied in order: one already applied is a duplicate, one further ahead waits for
 * its parent (parent_unknown), the next one must verify against the chain (signatures of a quorum
 * of the parent's governing members, allowed changes) or is provably bad.
 */
async function checkManifestRevision (r: ManifestRevision, cid: string, ctx: ValidationContext): Promise<Result<ManifestRevision>> {
  const body = r.manifest.body
  if (r.network !== ctx.network || body.network !== ctx.network) return reject('unknown_network', `revision is for network ${body.network ?? r.network}`, r)
  const chain = ctx.chain ?? []
  const current = chain.at(-1)?.body
  if (current === undefined) return ignore('parent_unknown', 'this node has no manifest chain to extend', r)
  if (ctx.isKnownRecord(cid) || body.revision <= current.revision) return ignore('duplicate', `revision ${body.revision} is already applied (this node runs revision ${current.revision})`, r)
  if (body.revision > current.revision + 1 || body.parent !== manifestCid(current)) return ignore('parent_unknown', `revision ${body.revision} follows ${body.parent ?? 'nothing'}; this node runs revision ${current.revision}`, r)
  try {
    await verifyManifestChain([...chain, r.manifest])
  } catch (err) {
    if (err instanceof ManifestVerificationError) return reject('not_authorized', err.message, r)
    throw err
  }
  return accept(r)
}

async function checkRevocation (r: Revocation, cid: string, ctx: ValidationContext): Promise<Result<Revocation>> {
  if (r.network !== ctx.network) return reject('unknown_network', `revocation is for network ${r.network}`, r)
  const signers = r.signatures.map(s => s.peerId)
  // One canonical signature list per revocation: sorted, no signer twice, members only. Otherwise
  // the same revocation could be re-signed into ever new record CIDs that all validate.
  for (let i = 1; i < signers.length; i++) {
    if (!(signers[i - 1]! < signers[i]!)) return reject('malformed', 'signatures must be sorted by peer id, each signer once', r)
  }
  const outsider = signers.find(p => !ctx.members.has(p) || ctx.revoked.has(p))
  if (outsider !== undefined) return reject('not_authorized', `${outsider} signed the revocation but is not a member of the network`, r)
  const byAuthor = signers.includes(r.moduleAuthor)
  // Without the author, a quorum of the governing members: the admins, or the contributors when
  // the network names no admin (observers never count), as for manifest revisions.
  const members = [...ctx.members.values()]
  const admins = members.filter(m => m.roles.includes('admin'))
  const governing = new Set((admins.length > 0 ? admins : members.filter(m => m.roles.includes('contributor'))).map(m => m.peerId))
  const governingSigners = signers.filter(p => governing.has(p)).length
  if (!byAuthor && governingSigners < ctx.quorum) {
    return reject('not_authorized', `signed by ${governingSigners} governing member(s); needs the module's author or a quorum of ${ctx.quorum} ${admins.length > 0 ? 'admins' : 'contributors'}`, r)
  }
  const time = checkTime(r.createdAt, ctx, r)
  if (time !== undefined) return time
  if (ctx.isKnownRecord(cid)) return ignore('duplicate', 'already seen', r)
  const message = signingBytes('revocation', unsigned(r))
  for (const s of r.signatures) {
    if (!verifyPeerSignature(s.peerId, message, s.signature)) return reject('bad_signature', `signature of ${s.peerId} does not verify`, r)
  }
  return accept(r)
}
