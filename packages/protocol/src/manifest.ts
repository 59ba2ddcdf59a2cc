// The network manifest: what a consortium or testnet is. Its CID (of the canonical unsigned body)
// names a revision; the genesis revision's CID is the network's identity and names its topics.
// Revisions (admit, revoke, policy changes) point to their parent and need a quorum of the
// parent's members.
import { cidOfCanonical, signingBytes } from './canonical.ts'
import { MalformedError, ManifestVerificationError } from './errors.ts'
import { publicKeyOfPeerId, verifyPeerSignature } from './identity.ts'
import type { Identity } from './identity.ts'
import { asObject, int, onlyKeys, str, strList } from './schema.ts'
import type { Obj } from './schema.ts'

export const PROTOCOL_VERSION = 'medforge/1'
/**
 * The largest magnitude any value of a module (LoRA factors, task head) or distilled set may have
 * on a medforge/1 network. Trained adapters stay orders of magnitude below; a value near the
 * binary32 range would only serve to overflow every peer's merge (a 1e20 factor made every later
 * Fusion loss NaN). Part of the protocol, so every peer refuses the same modules.
 */
export const MAX_MODULE_VALUE = 1e4
export const MEMBER_ROLES = ['contributor', 'observer', 'admin'] as const
export type MemberRole = typeof MEMBER_ROLES[number]

export interface Member { readonly peerId: string, readonly name: string, readonly roles: readonly MemberRole[] }
/** What a task's images are: grey (1 channel) or RGB (3), and the side of the square the model takes. */
export interface TaskInput { readonly channels: 1 | 3, readonly size: number }

/**
 * A task of the network's registry: its classes by name (label i is labels[i], two or more), its
 * metric, and its input (grey at the base model's size when absent, as the first networks had).
 */
export interface TaskSpec { readonly id: string, readonly modality: string, readonly labels: readonly string[], readonly metric: string, readonly input?: TaskInput }

export interface ManifestBody {
  readonly protocol: string
  readonly networkId: string
  readonly name: string
  readonly revision: number
  /** The genesis CID (null in the genesis revision itself). */
  readonly network: string | null
  readonly parent: string | null
  readonly baseModel: { readonly architecture: string, readonly weights: string }
  readonly tasks: readonly TaskSpec[]
  readonly lora: { readonly targets: readonly string[], readonly rank: number, readonly alpha: number }
  readonly merge: { readonly method: string, readonly params: Readonly<Record<string, number | string>> }
  readonly members: readonly Member[]
  /** Signatures of distinct members needed to accept the next revision (and this one, at genesis). */
  readonly quorum: number
  readonly limits: { readonly maxModuleBytes: number, readonly maxMessageBytes: number }
  readonly bootstrap: readonly string[]
  readonly createdAt: number
}

export interface ManifestSignature { readonly peerId: string, readonly signature: string }
export interface SignedManifest { readonly body: ManifestBody, readonly signatures: readonly ManifestSignature[] }

const WHAT = 'manifest'

/** What a new network must say; everything else has a default (quorum: a majority of the members). */
export interface GenesisInit {
  readonly networkId: string
  readonly name: string
  readonly baseModel: ManifestBody['baseModel']
  readonly tasks: readonly TaskSpec[]
  readonly lora: ManifestBody['lora']
  readonly merge: { readonly method: string, readonly params?: Readonly<Record<string, number | string>> }
  readonly members: readonly Member[]
  readonly quorum?: number
  readonly limits?: Partial<ManifestBody['limits']>
  readonly bootstrap?: readonly string[]
  readonly createdAt?: number
}

export const DEFAULT_LIMITS: ManifestBody['limits'] = { maxModuleBytes: 64 * 1024 * 1024, maxMessageBytes: 64 * 1024 }

/** The genesis body of a new network, checked like any manifest read from disk. */
export function genesisManifestBody (init: GenesisInit): ManifestBody {
  return parseManifestBody({
    protocol: PROTOCOL_VERSION,
    networkId: init.networkId,
    name: init.name,
    revision: 0,
    network: null,
    parent: null,
    baseModel: init.baseModel,
    tasks: init.tasks,
    lora: init.lora,
    merge: { method: init.merge.method, params: init.merge.params ?? {} },
    members: init.members,
    quorum: init.quorum ?? Math.floor(init.members.length / 2) + 1,
    limits: { ...DEFAULT_LIMITS, ...init.limits },
    bootstrap: init.bootstrap ?? [],
    createdAt: init.createdAt ?? Date.now()
  })
}

export function parseManifestBody (value: unknown): ManifestBody {
  const o = asObject(value, WHAT, 'body')
  onlyKeys(o, ['protocol', 'networkId', 'name', 'revision', 'network', 'parent', 'baseModel', 'tasks', 'lora', 'merge', 'members', 'quorum', 'limits', 'bootstrap', 'createdAt'], WHAT)
  const protocol = str(o, 'protocol', WHAT)
  if (protocol !== PROTOCOL_VERSION) throw new MalformedError(WHAT, `protocol is "${protocol}", this build speaks "${PROTOCOL_VERSION}"`)
  const revision = int(o, 'revision', WHAT)
  const nullableCid = (field: string): string | null => {
    if (o[field] === null) return null
    return str(o, field, WHAT, 128)
  }
  const network = nullableCid('network')
  const parent = nullableCid('parent')
  if ((revision === 0) !== (network === null) || (revision === 0) !== (parent === null)) {
    throw new MalformedError(WHAT, 'network and parent must be null exactly in revision 0')
  }
  const base = asObject(o.baseModel, WHAT, 'baseModel')
  const tasks = asList(o.tasks, 'tasks', 64).map(t => {
    const to = asObject(t, WHAT, 'task')
    onlyKeys(to, ['id', 'modality', 'labels', 'metric', 'input'], `${WHAT} task`)
    const task: TaskSpec = { id: str(to, 'id', WHAT, 64), modality: str(to, 'modality', WHAT, 64), labels: strList(to, 'labels', WHAT, 1000), metric: str(to, 'metric', WHAT, 64) }
    if (task.labels.length < 2) throw new MalformedError(WHAT, `task "${task.id}" needs at least two classes`)
    unique([...task.labels], `class of task "${task.id}"`)
    if (to.input === undefined) return task
    const input = asObject(to.input, WHAT, 'task input')
    onlyKeys(input, ['channels', 'size'], `${WHAT} task input`)
    const channels = int(input, 'channels', WHAT, 1)
    if (channels !== 1 && channels !== 3) throw new MalformedError(WHAT, `task "${task.id}" input channels must be 1 (grey) or 3 (RGB), got ${channels}`)
    return { ...task, input: { channels: channels as 1 | 3, size: int(input, 'size', WHAT, 1, 4096) } }
  })
  if (tasks.length === 0) throw new MalformedError(WHAT, 'a network needs at least one task')
  unique(tasks.map(t => t.id), 'task id')
  const lora = asObject(o.lora, WHAT, 'lora')
  const merge = asObject(o.merge, WHAT, 'merge')
  const params = asObject(merge.params, WHAT, 'merge.params')
  for (const [k, v] of Object.entries(params)) {
    if (typeof v !== 'string' && !(typeof v === 'number' && Number.isFinite(v))) throw new MalformedError(WHAT, `merge.params.${k} must be a number or a string`)
  }
  const members = asList(o.members, 'members', 1000).map(m => {
    const mo = asObject(m, WHAT, 'member')
    const roles = strList(mo, 'roles', WHAT, 8)
    for (const r of roles) if (!(MEMBER_ROLES as readonly string[]).includes(r)) throw new MalformedError(WHAT, `unknown member role "${r}"`)
    const peerId = str(mo, 'peerId', WHAT, 128)
    if (publicKeyOfPeerId(peerId) === undefined) throw new MalformedError(WHAT, `member ${peerId} is not an Ed25519 peer id`)
    return { peerId, name: str(mo, 'name', WHAT, 128), roles: roles as MemberRole[] }
  })
  if (members.length === 0) throw new MalformedError(WHAT, 'a network needs at least one member')
  unique(members.map(m => m.peerId), 'member')
  const quorum = int(o, 'quorum', WHAT, 1, members.length)
  const limits = asObject(o.limits, WHAT, 'limits')
  return {
    protocol,
    networkId: str(o, 'networkId', WHAT, 64),
    name: str(o, 'name', WHAT, 128),
    revision,
    network,
    parent,
    baseModel: { architecture: str(base, 'architecture', WHAT, 128), weights: str(base, 'weights', WHAT, 128) },
    tasks,
    lora: { targets: strList(lora, 'targets', WHAT, 64), rank: int(lora, 'rank', WHAT, 1, 4096), alpha: positiveNumber(lora, 'alpha') },
    merge: { method: str(merge, 'method', WHAT, 64), params: params as Record<string, number | string> },
    members,
    quorum,
    limits: { maxModuleBytes: int(limits, 'maxModuleBytes', WHAT, 1), maxMessageBytes: int(limits, 'maxMessageBytes', WHAT, 64) },
    bootstrap: strList(o, 'bootstrap', WHAT, 64),
    createdAt: int(o, 'createdAt', WHAT)
  }
}

function asList (v: unknown, field: string, max: number): unknown[] {
  if (!Array.isArray(v) || v.length > max) throw new MalformedError(WHAT, `${field} must be a list of at most ${max} entries`)
  return v
}

function unique (xs: string[], what: string): void {
  const seen = new Set<string>()
  for (const x of xs) {
    if (seen.has(x)) throw new MalformedError(WHAT, `${what} "${x}" appears twice`)
    seen.add(x)
  }
}

function positiveNumber (o: Obj, field: string): number {
  const v = o[field]
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new MalformedError(WHAT, `lora.${field} must be a positive number`)
  return v
}

export function manifestCid (body: ManifestBody): string {
  return cidOfCanonical(body)
}

/** The network's identity: the genesis revision's CID. */
export function networkCid (body: ManifestBody): string {
  return body.network ?? manifestCid(body)
}

/** modules/2 carries gossip envelopes (a record with its small blobs attached); /1 carried bare records. */
export function topics (network: string): { modules: string, state: string } {
  return { modules: `/medforge/${network}/modules/2`, state: `/medforge/${network}/state/1` }
}

export async function signManifest (manifest: SignedManifest, identity: Identity): Promise<SignedManifest> {
  const signature = await identity.privateKey.sign(signingBytes('manifest', manifest.body))
  const others = manifest.signatures.filter(s => s.peerId !== identity.peerId)
  return { body: manifest.body, signatures: [...others, { peerId: identity.peerId, signature: Buffer.from(signature).toString('base64') }].sort((a, b) => a.peerId < b.peerId ? -1 : 1) }
}

/** Members (of `signers`) whose signatures over `body` verify; invalid or foreign signatures are listed apart. */
export async function checkSignatures (body: ManifestBody, signatures: readonly ManifestSignature[], signers: readonly Member[]): Promise<{ valid: string[], invalid: string[], notMembers: string[] }> {
  const message = signingBytes('manifest', body)
  const memberIds = new Set(signers.map(m => m.peerId))
  const valid = new Set<string>()
  const invalid: string[] = []
  const notMembers: string[] = []
  for (const s of signatures) {
    if (!memberIds.has(s.peerId)) { notMembers.push(s.peerId); continue }
    const ok = typeof s.signature === 'string' && verifyPeerSignature(s.peerId, message, Buffer.from(s.signature, 'base64'))
    if (ok) valid.add(s.peerId)
    else invalid.push(s.peerId)
  }
  return { valid: [...valid], invalid, notMembers }
}

/**
 * Verifies a genesis manifest and a chain of revisions, returning the latest body and the peer ids
 * revoked along the way (members of an earlier revision absent from a later one). Genesis needs a
 * quorum of its own members; each revision a quorum (as the parent sets it) of the parent's members.
 */
export async function verifyManifestChain (chain: readonly SignedManifest[]): Promise<{ current: ManifestBody, network: string, revoked: Set<string> }> {
  const genesis = chain[0]
  if (genesis === undefined) throw new ManifestVerificationError('no manifest given')
  if (genesis.body.revision !== 0) throw new ManifestVerificationError(`the first manifest must be revision 0, got ${genesis.body.revision}`)
  await requireQuorum(genesis, genesis.body)
  const network = manifestCid(genesis.body)
  const revoked = new Set<string>()
  let current = genesis.body
  for (const next of chain.slice(1)) {
    const body = next.body
    if (body.network !== network) throw new ManifestVerificationError(`revision ${body.revision} belongs to network ${body.network}, not ${network}`)
    if (body.parent !== manifestCid(current)) throw new ManifestVerificationError(`revision ${body.revision} names parent ${body.parent}, expected ${manifestCid(current)}`)
    if (body.revision !== current.revision + 1) throw new ManifestVerificationError(`revision ${body.revision} does not follow revision ${current.revision}`)
    await requireQuorum(next, current)
    const still = new Set(body.members.map(m => m.peerId))
    for (const m of current.members) if (!still.has(m.peerId)) revoked.add(m.peerId)
    for (const m of body.members) revoked.delete(m.peerId)
    current = body
  }
  return { current, network, revoked }
}

/**
 * The members whose signatures count toward a quorum: the admins, or, in a network that names no
 * admin, its contributors. Observers never count.
 */
export function governingMembers (body: ManifestBody): Member[] {
  const admins = body.members.filter(m => m.roles.includes('admin'))
  return admins.length > 0 ? admins : body.members.filter(m => m.roles.includes('contributor'))
}

/** What a revision may not change at all: a network on another model or merge rule is a new network. */
const FIXED_FIELDS = ['protocol', 'networkId', 'baseModel', 'lora', 'merge'] as const
/** What a revision may change only with two thirds of the governing members (not just the quorum). */
const GUARDED_FIELDS = ['quorum', 'limits'] as const

async function requireQuorum (manifest: SignedManifest, authority: ManifestBody): Promise<void> {
  const governing = governingMembers(authority)
  const { valid, invalid } = await checkSignatures(manifest.body, manifest.signatures, governing)
  if (invalid.length > 0) throw new ManifestVerificationError(`revision ${manifest.body.revision}: invalid signature from ${invalid.join(', ')}`)
  if (valid.length < authority.quorum) {
    throw new ManifestVerificationError(`revision ${manifest.body.revision} has ${valid.length} valid signature(s) of governing members (admins, or contributors when there is no admin), quorum is ${authority.quorum}`)
  }
  if (manifest.body === authority) return // genesis
  for (const field of FIXED_FIELDS) {
    if (canonicalJsonText(manifest.body[field]) !== canonicalJsonText(authority[field])) {
      throw new ManifestVerificationError(`revision ${manifest.body.revision} changes ${field}: a revision cannot; create a new network for that`)
    }
  }
  const superMajority = Math.ceil(2 * governing.length / 3)
  for (const field of GUARDED_FIELDS) {
    if (canonicalJsonText(manifest.body[field]) !== canonicalJsonText(authority[field]) && valid.length < Math.max(authority.quorum, superMajority)) {
      throw new ManifestVerificationError(`revision ${manifest.body.revision} changes ${field}, which needs two thirds of the governing members (${superMajority}), it has ${valid.length}`)
    }
  }
}

function canonicalJsonText (value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a < b ? -1 : 1)) : v)
}

/** The on-disk form: JSON with the body and base64 signatures (the CID is over the body's DAG-CBOR). */
export function encodeManifestFile (manifest: SignedManifest): string {
  return JSON.stringify({ body: manifest.body, signatures: manifest.signatures }, null, 2) + '\n'
}

export function decodeManifestFile (text: string): SignedManifest {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new MalformedError(WHAT, `not JSON: ${(err as Error).message}`)
  }
  const o = asObject(json, WHAT, 'file')
  const sigs = o.signatures
  if (!Array.isArray(sigs)) throw new MalformedError(WHAT, 'signatures must be a list')
  const signatures = sigs.map(s => {
    const so = asObject(s, WHAT, 'signature')
    return { peerId: str(so, 'peerId', WHAT, 128), signature: str(so, 'signature', WHAT, 256) }
  })
  return { body: parseManifestBody(o.body), signatures }
}
