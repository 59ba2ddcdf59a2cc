import { describe, it } from 'node:test'
import { cidOfBytes } from '@medforge/merge-core'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import type { Uint8ArrayList } from 'uint8arraylist'
import { HashMismatchError, MalformedError, ManifestVerificationError, RemoteStatusError, TooLargeError, VALIDATION_CODES, blobResponseFrames, cidOfCanonicalBytes, decodeBlobRequest, decodeBlobResponseHeader, decodeFrame, decodeKeyFile, decodeManifestFile, decodeRecord, decodeSyncInventory, decodeSyncRecords, decodeSyncRequest, encodeBlobRequest, encodeBlobResponseHeader, encodeCanonical, encodeFrame, encodeKeyFile, encodeManifestFile, encodeRecord, encodeSyncInventory, encodeSyncRecords, encodeSyncRequest, manifestCid, networkCid, parseManifestBody, readBlobResponse, recordCid, signManifest, topics, validateModuleAnnouncement, validateRecord, validateRevocation, validateStateAttestation, verifyManifestChain, verifyPeerSignature, addRevocationSignature, decodePeerAdvert, encodePeerAdvert, MAX_PEER_ADVERT_BYTES, newIdentity, MAX_ATTACHED_BLOB_BYTES, blobsToAttach, decodeGossipEnvelope, encodeGossipEnvelope, matchAttachedBlobs, maxEnvelopeBytes } from '../src/index.ts'
import type { ManifestBody, Member, ModuleAnnouncement, SignedManifest, ValidationContext } from '../src/index.ts'
import { genesis, genesisBody, identities, sampleEnvelope, samplePeerAdvert, sampleRecords } from './samples.ts'

const golden = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'golden.json'), 'utf8')) as Record<string, unknown>
const ids = await identities()
const records = await sampleRecords(ids)
const sample = await sampleEnvelope(ids)
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const unhex = (s: unknown): Uint8Array => new Uint8Array(Buffer.from(s as string, 'hex'))

describe('golden byte vectors', () => {
  it('identities from fixed seeds', () => assert.deepEqual(ids.map(i => i.peerId), golden.peerIds))
  it('manifest body, CID and signatures', async () => {
    const g = await genesis(ids)
    assert.equal(hex(encodeCanonical(g.body)), golden.manifestBody)
    assert.equal(manifestCid(g.body), golden.manifestCid)
    assert.deepEqual(g.signatures, golden.manifestSignatures)
  })
  for (const [key, record] of [['moduleAnnouncement', records.announcement], ['stateAttestation', records.attestation], ['revocation', records.revocation], ['manifestRevision', records.revision]] as const) {
    it(`${key} encodes to the committed bytes and decodes back`, () => {
      assert.equal(hex(encodeRecord(record)), golden[key])
      assert.deepEqual(decodeRecord(unhex(golden[key])), record)
      // The CID from the bytes alone (how sync recognises a known record) is the record's CID.
      assert.equal(cidOfCanonicalBytes(unhex(golden[key])), recordCid(record))
    })
  }
  it('stream frames', () => {
    assert.equal(hex(encodeBlobRequest({ cid: records.announcement.moduleBlob })), golden.blobRequest)
    assert.equal(hex(encodePeerAdvert(samplePeerAdvert(ids))), golden.peerAdvert)
    assert.deepEqual(decodePeerAdvert(unhex(golden.peerAdvert as string)), samplePeerAdvert(ids))
    assert.throws(() => decodePeerAdvert(new Uint8Array(MAX_PEER_ADVERT_BYTES + 1)), TooLargeError)
    assert.equal(hex(encodeBlobResponseHeader({ status: 'not_found', size: 0, message: 'no such blob' })), golden.blobResponseHeader)
    const recordIds = [recordCid(records.announcement), recordCid(records.attestation)]
    assert.equal(hex(encodeSyncRequest({ want: 'ids', network: records.network, after: 17, limit: 64 })), golden.syncRequest)
    assert.equal(hex(encodeSyncInventory({ ids: recordIds, next: 18 })), golden.syncInventory)
    assert.equal(hex(encodeSyncRequest({ want: 'records', network: records.network, ids: recordIds.slice(1) })), golden.syncRecordsRequest)
    assert.equal(hex(encodeSyncRecords({ records: [encodeRecord(records.attestation)] })), golden.syncRecords)
    assert.deepEqual(decodeBlobRequest(decodeFrame(unhex(golden.blobRequest), 1024).payload), { cid: records.announcement.moduleBlob })
    assert.deepEqual(decodeSyncRequest(decodeFrame(unhex(golden.syncRequest), 1024).payload), { want: 'ids', network: records.network, after: 17, limit: 64 })
    assert.deepEqual(decodeSyncInventory(decodeFrame(unhex(golden.syncInventory), 1024).payload), { ids: recordIds, next: 18 })
    assert.deepEqual(decodeSyncRequest(decodeFrame(unhex(golden.syncRecordsRequest), 1024).payload), { want: 'records', network: records.network, ids: recordIds.slice(1) })
    const page = decodeSyncRecords(decodeFrame(unhex(golden.syncRecords), 4096).payload, 4096)
    assert.deepEqual(decodeRecord(page.records[0]!), records.attestation)
  })

  it('gossip envelope: an announcement with its two blobs attached', () => {
    assert.equal(hex(encodeGossipEnvelope(sample.envelope)), golden.gossipEnvelope)
    const decoded = decodeGossipEnvelope(unhex(golden.gossipEnvelope), 65536)
    assert.deepEqual(decoded, sample.envelope)
    assert.deepEqual(decodeRecord(decoded.record), sample.announcement)
    const matched = matchAttachedBlobs(sample.announcement, decoded.blobs)
    assert.ok(matched.ok)
    assert.deepEqual([...matched.blobs.keys()], [sample.announcement.moduleBlob, sample.announcement.distilled])
  })
})

describe('manifest', () => {
  it('verifies a genesis with a quorum and derives topics from its CID', async () => {
    const g = await genesis(ids)
    const { current, network, revoked } = await verifyManifestChain([g])
    assert.equal(network, golden.manifestCid)
    assert.equal(networkCid(current), network)
    assert.equal(revoked.size, 0)
    assert.equal(topics(network).modules, `/medforge/${network}/modules/2`)
    assert.deepEqual(decodeManifestFile(encodeManifestFile(g)), g)
  })

  it('refuses a revision without quorum, and accepts a revoking revision with one', async () => {
    const g = await genesis(ids)
    const body = { ...genesisBody(ids), revision: 1, network: manifestCid(g.body), parent: manifestCid(g.body), members: g.body.members.slice(1), quorum: 1 }
    const oneSig = await signManifest({ body, signatures: [] }, ids[1]!)
    await assert.rejects(verifyManifestChain([g, oneSig]), (e: unknown) => e instanceof ManifestVerificationError && /1 valid signature\(s\) of governing members.*quorum is 2/.test(e.message))
    const outsider = await signManifest(oneSig, ids[3]!)
    await assert.rejects(verifyManifestChain([g, outsider]), /quorum is 2/)
    const twoSigs = await signManifest(oneSig, ids[2]!)
    const { revoked, current } = await verifyManifestChain([g, twoSigs])
    assert.deepEqual([...revoked], [ids[0]!.peerId])
    assert.equal(current.members.length, 2)
    const forged: SignedManifest = { body, signatures: [...twoSigs.signatures.slice(0, 1), { peerId: twoSigs.signatures[1]!.peerId, signature: twoSigs.signatures[0]!.signature }] }
    await assert.rejects(verifyManifestChain([g, forged]), /invalid signature/)
    await assert.rejects(verifyManifestChain([g, { ...twoSigs, body: { ...body, parent: records.network.replace('a', 'b') } }]), /names parent/)
  })

  it('roles and guarded fields: admins govern when there are any, observers never; the model and merge rule are fixed; quorum and limits need two thirds', async () => {
    // Issue 14, finding 7: any member, observers included, counted toward quorums, and a quorum
    // revision could silently change the base model, the LoRA policy, the limits and the quorum.
    const withRoles = async (roles: Array<Array<'contributor' | 'observer' | 'admin'>>, quorum: number): Promise<SignedManifest> => {
      const body = { ...genesisBody(ids), members: genesisBody(ids).members.map((m, i) => ({ ...m, roles: roles[i]! })), quorum }
      let g: SignedManifest = { body, signatures: [] }
      for (const i of roles.map((r, i) => r.includes('admin') || (!roles.some(x => x.includes('admin')) && r.includes('contributor')) ? i : -1).filter(i => i >= 0).slice(0, quorum)) g = await signManifest(g, ids[i]!)
      return g
    }
    const revise = (g: SignedManifest, change: Partial<ManifestBody>): ManifestBody => ({ ...g.body, ...change, revision: 1, network: manifestCid(g.body), parent: manifestCid(g.body) })
    const sign = async (body: ManifestBody, signers: number[]): Promise<SignedManifest> => {
      let m: SignedManifest = { body, signatures: [] }
      for (const i of signers) m = await signManifest(m, ids[i]!)
      return m
    }
    const g = await withRoles([['admin'], ['contributor'], ['observer']], 1)
    const dropObserver = revise(g, { members: g.body.members.slice(0, 2) })
    await assert.rejects(verifyManifestChain([g, await sign(dropObserver, [1, 2])]), /0 valid signature\(s\) of governing members/, 'a contributor and an observer do not make an admin quorum')
    await verifyManifestChain([g, await sign(dropObserver, [0])])
    const plain = await withRoles([['contributor'], ['contributor'], ['observer']], 2)
    await assert.rejects(verifyManifestChain([plain, await sign(revise(plain, { members: plain.body.members.slice(0, 2) }), [0, 2])]), /1 valid signature/, 'without admins, contributors govern; observers still do not')
    await assert.rejects(verifyManifestChain([plain, await sign(revise(plain, { baseModel: { architecture: 'other', weights: plain.body.baseModel.weights } }), [0, 1])]), /changes baseModel: a revision cannot/)
    await assert.rejects(verifyManifestChain([plain, await sign(revise(plain, { lora: { ...plain.body.lora, rank: 64 } }), [0, 1])]), /changes lora/)
    const three = await withRoles([['admin'], ['admin'], ['admin']], 1)
    await assert.rejects(verifyManifestChain([three, await sign(revise(three, { limits: { ...three.body.limits, maxModuleBytes: 1 } }), [0])]), /changes limits, which needs two thirds of the governing members \(2\)/)
    await verifyManifestChain([three, await sign(revise(three, { limits: { ...three.body.limits, maxModuleBytes: 1 } }), [0, 1])])
  })

  it('refuses malformed manifests, naming the field', () => {
    const good = genesisBody(ids)
    assert.throws(() => parseManifestBody({ ...good, quorum: 9 }), /quorum must be an integer in \[1, 3\]/)
    assert.throws(() => parseManifestBody({ ...good, tasks: [] }), /at least one task/)
    assert.throws(() => parseManifestBody({ ...good, members: [{ peerId: 'nope', name: 'x', roles: ['contributor'] }] }), /not an Ed25519 peer id/)
    assert.throws(() => parseManifestBody({ ...good, protocol: 'medforge/9' }), /this build speaks "medforge\/1"/)
    assert.throws(() => parseManifestBody({ ...good, extra: 1 }), /unexpected field "extra"/)
    assert.throws(() => decodeManifestFile('{'), MalformedError)
  })
})

const pick = (r: { verdict: string, code: string }): [string, string] => [r.verdict, r.code]

function context (overrides: Partial<ValidationContext> = {}): ValidationContext {
  const members = new Map<string, Member>(genesisBody(ids).members.map(m => [m.peerId, m]))
  return {
    network: records.network,
    members,
    revoked: new Set(),
    quorum: 2,
    tasks: new Set(['pneumonia', 'breast']),
    maxMessageBytes: 64 * 1024,
    now: 1_790_000_400_000,
    isKnownRecord: () => false,
    rootHeight: () => 0,
    ...overrides
  }
}

describe('validation', () => {
  const bytes = encodeRecord(records.announcement)
  it('accepts valid records, each result carrying the record\'s CID', async () => {
    for (const [record, validate] of [[records.announcement, validateModuleAnnouncement], [records.attestation, validateStateAttestation], [records.revocation, validateRevocation], [records.attestation, validateRecord]] as const) {
      const r = await validate(encodeRecord(record), context({ chain: [] }))
      assert.equal(r.verdict, 'accept', record.type)
      assert.equal(r.cid, recordCid(record), record.type)
    }
  })

  it('returns the documented verdict and code for each bad input', async () => {
    const forged = { ...records.announcement, samples: 999_999 } // signature no longer covers it
    const nonMember = await (await import('../src/index.ts')).signRecord<ModuleAnnouncement>({ ...records.announcement, author: undefined } as never, ids[3]!)
    const cases: Array<[string, Promise<{ verdict: string, code: string }>, string, string]> = [
      ['oversized', validateModuleAnnouncement(bytes, context({ maxMessageBytes: 100 })), 'reject', 'too_large'],
      ['garbage', validateModuleAnnouncement(new Uint8Array([0xff, 0x00, 0x13]), context()), 'reject', 'malformed'],
      ['wrong type', validateModuleAnnouncement(encodeRecord(records.attestation), context()), 'reject', 'unknown_type'],
      ['other network', validateModuleAnnouncement(bytes, context({ network: 'bafyother' })), 'reject', 'unknown_network'],
      ['unknown task', validateModuleAnnouncement(bytes, context({ tasks: new Set(['breast']) })), 'reject', 'unknown_task'],
      ['non-member', validateModuleAnnouncement(encodeRecord(nonMember), context()), 'reject', 'not_a_member'],
      ['revoked', validateModuleAnnouncement(bytes, context({ revoked: new Set([ids[0]!.peerId]) })), 'reject', 'revoked_member'],
      ['minutes ahead (a clock off)', validateModuleAnnouncement(bytes, context({ now: records.announcement.createdAt - 600_000 })), 'ignore', 'future_timestamp'],
      ['days ahead', validateModuleAnnouncement(bytes, context({ now: 1_700_000_000_000 })), 'reject', 'future_timestamp'],
      ['replayed by gossip after its time', validateModuleAnnouncement(bytes, context({ now: records.announcement.createdAt + 7_200_000, maxAgeMs: 3_600_000 })), 'reject', 'stale'],
      ['equivocation', validateModuleAnnouncement(bytes, context({ equivocates: () => true })), 'reject', 'equivocation'],
      ['equivocation claimed with a forged signature', validateModuleAnnouncement(encodeRecord(forged), context({ equivocates: () => true })), 'reject', 'bad_signature'],
      ['duplicate', validateModuleAnnouncement(bytes, context({ isKnownRecord: cid => cid === recordCid(records.announcement) })), 'ignore', 'duplicate'],
      ['unknown parent', validateModuleAnnouncement(bytes, context({ rootHeight: () => undefined })), 'ignore', 'parent_unknown'],
      // Issue 14, finding 6: a forged announcement on an unknown parent was parked (pool flooding).
      ['forged, on an unknown parent', validateModuleAnnouncement(encodeRecord(forged), context({ rootHeight: () => undefined })), 'reject', 'bad_signature'],
      ['height not parent + 1', validateModuleAnnouncement(bytes, context({ rootHeight: () => 5 })), 'reject', 'wrong_height'],
      // Issue 14, finding 4: a height only a peer attested is a claim, not proof against the announcement.
      ['height not parent + 1, parent height only attested', validateModuleAnnouncement(bytes, context({ rootHeight: () => 5, isComputedRoot: () => false })), 'ignore', 'wrong_height'],
      ['height not parent + 1, parent height computed here', validateModuleAnnouncement(bytes, context({ rootHeight: () => 5, isComputedRoot: () => true })), 'reject', 'wrong_height'],
      ['forged', validateModuleAnnouncement(encodeRecord(forged), context()), 'reject', 'bad_signature'],
      ['attestation by non-member', validateStateAttestation(encodeRecord(records.attestation), context({ members: new Map() })), 'reject', 'not_a_member'],
      ['revocation by a stranger', validateRevocation(encodeRecord(await addRevocationSignature({ ...records.revocation, signatures: [] }, ids[3]!)), context()), 'reject', 'not_authorized']
    ]
    for (const [name, promise, verdict, code] of cases) {
      const r = await promise
      assert.equal(r.verdict, verdict, name)
      assert.equal(r.code, code, name)
      assert.ok((VALIDATION_CODES as readonly string[]).includes(r.code))
    }
  })

  it('manifest revisions on the wire: applied in order, only with a quorum', async () => {
    const g = await genesis(ids)
    const bytes = encodeRecord(records.revision)
    assert.equal((await validateRecord(bytes, context({ chain: [g] }))).verdict, 'accept')
    const expect = async (ctx: ValidationContext, data: Uint8Array, verdict: string, code: string): Promise<void> => {
      const r = await validateRecord(data, ctx)
      assert.deepEqual([r.verdict, r.code], [verdict, code], r.detail)
    }
    await expect(context({ chain: [g, records.revision.manifest] }), bytes, 'ignore', 'duplicate')
    await expect(context({ chain: [g], isKnownRecord: () => true }), bytes, 'ignore', 'duplicate')
    const ahead = { ...records.revision, manifest: { ...records.revision.manifest, body: { ...records.revision.manifest.body, revision: 2, parent: manifestCid(records.revision.manifest.body) } } }
    await expect(context({ chain: [g] }), encodeRecord(ahead), 'ignore', 'parent_unknown')
    const oneSignature = { ...records.revision, manifest: { ...records.revision.manifest, signatures: records.revision.manifest.signatures.slice(0, 1) } }
    await expect(context({ chain: [g] }), encodeRecord(oneSignature), 'reject', 'not_authorized')
    await expect(context({ chain: [g], network: 'bafyreiother' }), bytes, 'reject', 'unknown_network')
    const genesisAsRevision = { ...records.revision, manifest: g }
    await expect(context({ chain: [g] }), encodeRecord(genesisAsRevision as never), 'reject', 'malformed')
  })

  it('a quorum may revoke anyone\'s module', async () => {
    let r = await addRevocationSignature({ ...records.revocation, moduleAuthor: ids[2]!.peerId, signatures: [] }, ids[0]!)
    assert.equal((await validateRevocation(encodeRecord(r), context())).code, 'not_authorized')
    r = await addRevocationSignature(r, ids[1]!)
    assert.equal((await validateRevocation(encodeRecord(r), context())).verdict, 'accept')
  })

  it('revocations: signers are members, listed once, in order: no stranger can revoke, no signature list is malleable', async () => {
    // Issue 14, finding 5: non-member keys revoking made-up modules as their "author" were stored,
    // and reordering signatures or adding a stranger's gave new record CIDs that still validated.
    const stranger = await newIdentity()
    const byStranger = await addRevocationSignature({ ...records.revocation, moduleAuthor: stranger.peerId, signatures: [] }, stranger)
    assert.deepEqual(pick(await validateRevocation(encodeRecord(byStranger), context())), ['reject', 'not_authorized'])
    const quorum = await addRevocationSignature(await addRevocationSignature({ ...records.revocation, moduleAuthor: ids[2]!.peerId, signatures: [] }, ids[0]!), ids[1]!)
    assert.deepEqual(pick(await validateRevocation(encodeRecord(quorum), context())), ['accept', 'ok'])
    const reordered = { ...quorum, signatures: [...quorum.signatures].reverse() }
    assert.deepEqual(pick(await validateRevocation(encodeRecord(reordered), context())), ['reject', 'malformed'])
    const twice = { ...quorum, signatures: [quorum.signatures[0]!, quorum.signatures[0]!, quorum.signatures[1]!] }
    assert.deepEqual(pick(await validateRevocation(encodeRecord(twice), context())), ['reject', 'malformed'])
    const withStranger = await addRevocationSignature(quorum, stranger)
    assert.deepEqual(pick(await validateRevocation(encodeRecord(withStranger), context())), ['reject', 'not_authorized'])
  })

  it('checks size before decoding: an oversized message is refused without being parsed', async () => {
    const huge = new Uint8Array(1_000_000).fill(0xff)
    const r = await validateModuleAnnouncement(huge, context())
    assert.equal(r.code, 'too_large')
  })
})

describe('signature verification', () => {
  const message = new TextEncoder().encode('a message')
  it('verifies a peer\'s Ed25519 signature and nothing else', async () => {
    const signature = await ids[0]!.privateKey.sign(message)
    assert.equal(verifyPeerSignature(ids[0]!.peerId, message, signature), true)
    assert.equal(verifyPeerSignature(ids[1]!.peerId, message, signature), false, 'another member\'s key')
    assert.equal(verifyPeerSignature(ids[0]!.peerId, new TextEncoder().encode('another message'), signature), false, 'another message')
    const flipped = Uint8Array.from(signature)
    flipped[10]! ^= 1
    assert.equal(verifyPeerSignature(ids[0]!.peerId, message, flipped), false, 'a flipped bit')
    assert.equal(verifyPeerSignature(ids[0]!.peerId, message, signature.subarray(0, 63)), false, 'a short signature')
    assert.equal(verifyPeerSignature(ids[0]!.peerId, message, new Uint8Array([...signature, 0])), false, 'a long signature')
    for (const peerId of ['', 'not a peer id', 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N']) assert.equal(verifyPeerSignature(peerId, message, signature), false, `peer id ${JSON.stringify(peerId)}`)
  })
  it('agrees with @libp2p/crypto on random messages and tampered signatures', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), fc.nat(63), fc.integer({ min: 0, max: 255 }), fc.nat(ids.length - 1), async (data, at, xor, signer) => {
      const signature = await ids[0]!.privateKey.sign(data)
      signature[at]! ^= xor
      const expected = await ids[signer]!.privateKey.publicKey.verify(data, signature)
      assert.equal(verifyPeerSignature(ids[signer]!.peerId, data, signature), expected)
    }), { numRuns: 200 })
  })
  it('stays right once its key cache has evicted: more signers than it holds', async () => {
    const seed = (i: number): Uint8Array => { const s = new Uint8Array(32).fill(7); s[0] = i & 0xff; s[1] = i >> 8; return s }
    const many = await Promise.all(Array.from({ length: 4200 }, async (_, i) => await newIdentity(seed(i))))
    const signatures = await Promise.all(many.slice(0, 3).map(async id => await id.privateKey.sign(message)))
    for (const id of many) assert.equal(verifyPeerSignature(id.peerId, message, signatures[0]!), id === many[0])
    for (let i = 0; i < 3; i++) assert.equal(verifyPeerSignature(many[i]!.peerId, message, signatures[i]!), true)
  })
})

describe('decoders under random input', () => {
  const typed = (err: unknown): boolean => err instanceof MalformedError || err instanceof TooLargeError
  const decoders: Array<[string, (b: Uint8Array) => unknown]> = [
    ['record', decodeRecord],
    ['frame', b => decodeFrame(b, 1024)],
    ['blob request', decodeBlobRequest],
    ['blob response header', decodeBlobResponseHeader],
    ['sync request', decodeSyncRequest],
    ['sync inventory', decodeSyncInventory],
    ['sync records', b => decodeSyncRecords(b, 1024)],
    ['peer advert', decodePeerAdvert],
    ['gossip envelope', b => decodeGossipEnvelope(b, 1024)]
  ]
  const seeds = [encodeRecord(records.announcement), encodeRecord(records.revocation), encodeRecord(records.revision), unhex(golden.syncRecords), unhex(golden.syncInventory), unhex(golden.syncRecordsRequest), unhex(golden.blobRequest), unhex(golden.peerAdvert), unhex(golden.gossipEnvelope)]
  for (const [name, decode] of decoders) {
    it(`${name}: random and mutated bytes give only typed errors`, () => {
      fc.assert(fc.property(fc.oneof(
        fc.uint8Array({ maxLength: 300 }),
        fc.tuple(fc.constantFrom(...seeds), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat()).map(([s, at, v, cut]) => {
          const b = Uint8Array.from(s); b[at % b.length] = v; return b.subarray(0, Math.max(1, cut % (b.length + 1)))
        })
      ), (b) => {
        try { decode(b) } catch (err) { assert.ok(typed(err), `${name}: ${String(err)}`) }
      }), { numRuns: 1500 })
    })
  }

  it('gossip envelope: any record and blobs within the bounds round-trip; beyond them, a typed error before or while decoding', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 2048 }), fc.array(fc.uint8Array({ minLength: 1, maxLength: 4096 }), { maxLength: 2 }), (record, blobs) => {
      assert.deepEqual(decodeGossipEnvelope(encodeGossipEnvelope({ record, blobs }), 2048), { record, blobs })
    }), { numRuns: 300 })
    const record = encodeRecord(records.announcement)
    const big = (n: number): Uint8Array => new Uint8Array(n).fill(7)
    assert.throws(() => decodeGossipEnvelope(encodeGossipEnvelope({ record, blobs: [] }), record.length - 1), (e: unknown) => e instanceof TooLargeError)
    assert.throws(() => decodeGossipEnvelope(encodeGossipEnvelope({ record, blobs: [big(MAX_ATTACHED_BLOB_BYTES - 10), big(11)] }), 65536), (e: unknown) => e instanceof TooLargeError && /blobs/.test(e.message))
    assert.throws(() => decodeGossipEnvelope(encodeGossipEnvelope({ record, blobs: [big(1), big(1), big(1)] }), 65536), /at most 2/)
    assert.throws(() => decodeGossipEnvelope(encodeGossipEnvelope({ record, blobs: [new Uint8Array(0)] }), 65536), /non-empty/)
    assert.throws(() => decodeGossipEnvelope(encodeCanonical({ record, blobs: [], extra: 1 }), 65536), /unexpected field "extra"/)
    assert.throws(() => decodeGossipEnvelope(record, 65536), (e: unknown) => e instanceof MalformedError && /unexpected field/.test(e.message), 'a bare record is no envelope')
    // The whole message is bounded before decoding: a huge one is refused from its length alone.
    assert.throws(() => decodeGossipEnvelope(new Uint8Array(maxEnvelopeBytes(1024) + 1), 1024), (e: unknown) => e instanceof TooLargeError)
  })

  it('blobs to attach: each in order while the total fits', () => {
    const n = (k: number): Uint8Array => new Uint8Array(k)
    assert.deepEqual(blobsToAttach([n(10), n(20)]).map(b => b.length), [10, 20])
    assert.deepEqual(blobsToAttach([n(MAX_ATTACHED_BLOB_BYTES), n(20)]).map(b => b.length), [MAX_ATTACHED_BLOB_BYTES])
    assert.deepEqual(blobsToAttach([n(MAX_ATTACHED_BLOB_BYTES + 1), n(20)]).map(b => b.length), [20])
    assert.deepEqual(blobsToAttach([n(MAX_ATTACHED_BLOB_BYTES - 5), n(20)]).map(b => b.length), [MAX_ATTACHED_BLOB_BYTES - 5])
  })

  it('attached blobs must be ones the announcement names, each once, and only on an announcement', () => {
    const [blob, distilled] = sample.envelope.blobs as [Uint8Array, Uint8Array]
    assert.deepEqual(matchAttachedBlobs(sample.announcement, []), { ok: true, blobs: new Map() })
    const wrong = matchAttachedBlobs(sample.announcement, [blob, Uint8Array.of(...distilled, 0)])
    assert.ok(!wrong.ok && wrong.code === 'hash_mismatch' && /attached blob 1 \(\d+ bytes\) hashes to/.test(wrong.detail), JSON.stringify(wrong))
    const twice = matchAttachedBlobs(sample.announcement, [distilled, distilled])
    assert.ok(!twice.ok && twice.code === 'malformed' && /attached twice/.test(twice.detail))
    const onAttestation = matchAttachedBlobs(records.attestation, [blob])
    assert.ok(!onAttestation.ok && onAttestation.code === 'malformed' && /state-attestation carries no blobs/.test(onAttestation.detail))
  })

  it('manifest files: corrupt JSON and mutated bodies give only MalformedError', async () => {
    const text = encodeManifestFile(await genesis(ids))
    fc.assert(fc.property(fc.nat(text.length - 1), fc.string({ minLength: 1, maxLength: 3 }), (at, c) => {
      try { decodeManifestFile(text.slice(0, at) + c + text.slice(at + 1)) } catch (err) { assert.ok(err instanceof MalformedError, String(err)) }
    }), { numRuns: 1000 })
    fc.assert(fc.property(fc.jsonValue(), fc.constantFrom('tasks', 'members', 'lora', 'limits', 'quorum', 'merge', 'baseModel', 'bootstrap', 'revision', 'network'), (value, field) => {
      try { parseManifestBody({ ...genesisBody(ids), [field]: value }) } catch (err) { assert.ok(err instanceof MalformedError, String(err)) }
    }), { numRuns: 1000 })
  })

  it('key files: corrupt input gives InvalidKeyFileError', async () => {
    const text = encodeKeyFile(ids[0]!, 'Institution 1')
    assert.equal(decodeKeyFile(text, 'k.json').peerId, ids[0]!.peerId)
    fc.assert(fc.property(fc.nat(text.length - 1), fc.string({ minLength: 1, maxLength: 1 }), (at, c) => {
      const broken = text.slice(0, at) + c + text.slice(at + 1)
      try { decodeKeyFile(broken, 'k.json') } catch (err) { assert.equal((err as Error).name, 'InvalidKeyFileError') }
    }), { numRuns: 300 })
  })
})

describe('blob stream', () => {
  async function * chunks (frames: Iterable<Uint8Array | Uint8ArrayList>): AsyncGenerator<Uint8Array> { for (const f of frames) yield f.subarray() }
  const data = new Uint8Array(70_000).map((_, i) => (i * 31) & 0xff)
  const cid = cidOfBytes(data)

  it('reads a chunked blob and verifies its hash', async () => {
    const out = await readBlobResponse(chunks(blobResponseFrames(data, 4096)), { cid, maxBytes: 1e6, maxChunkBytes: 4096 })
    assert.deepEqual(out, data)
  })
  it('refuses wrong bytes, oversize, truncation and remote errors with typed errors', async () => {
    const other = cidOfBytes(new Uint8Array([1]))
    await assert.rejects(readBlobResponse(chunks(blobResponseFrames(data)), { cid: other, maxBytes: 1e6 }), HashMismatchError)
    await assert.rejects(readBlobResponse(chunks(blobResponseFrames(data)), { cid, maxBytes: 1000 }), TooLargeError)
    await assert.rejects(readBlobResponse(chunks([...blobResponseFrames(data, 4096)].slice(0, 5)), { cid, maxBytes: 1e6, maxChunkBytes: 4096 }), /ended after 16384 of 70000 bytes/)
    await assert.rejects(readBlobResponse(chunks(blobResponseFrames(data, 8192)), { cid, maxBytes: 1e6, maxChunkBytes: 4096 }), TooLargeError)
    await assert.rejects(readBlobResponse(chunks([encodeBlobResponseHeader({ status: 'not_found', size: 0, message: 'gone' })]), { cid, maxBytes: 1e6 }), RemoteStatusError)
    await assert.rejects(readBlobResponse(chunks([]), { cid, maxBytes: 1e6 }), /ended before the response header/)
    await assert.rejects(readBlobResponse(chunks([encodeFrame(new Uint8Array([0xff]))]), { cid, maxBytes: 1e6 }), MalformedError)
  })
})
