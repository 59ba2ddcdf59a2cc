// The network runtime's services with stubbed neighbours: the record handler (decode once, apply,
// park and release), the attester and the publisher.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { cidOfBytes } from '@medforge/merge-core'
import { MAX_ATTACHED_BLOB_BYTES, addRevocationSignature, decodeGossipEnvelope, decodeRecord, encodeRecord, newIdentity, recordCid, signRecord } from '@medforge/protocol'
import type { Identity, ModuleAnnouncement, StateAttestation } from '@medforge/protocol'
import { createAttester } from '../src/daemon/attester.ts'
import { loadNetworkState } from '../src/daemon/network-state.ts'
import type { NetworkState } from '../src/daemon/network-state.ts'
import { createPendingPool } from '../src/daemon/pending-pool.ts'
import { createPublisher } from '../src/daemon/publisher.ts'
import { applyWaitingRevocations, dropFalseClaim } from '../src/daemon/record-effects.ts'
import { createRecordHandler } from '../src/daemon/record-handler.ts'
import { InvalidModuleError } from '../src/errors.ts'
import { createBlobStore } from '../src/store/blob-store.ts'
import { Ledger } from '../src/store/ledger.ts'
import type { MergeRow } from '../src/store/ledger.ts'
import { tempDir, toyManifest } from './support.ts'

const fakeCid = (s: string): string => cidOfBytes(new TextEncoder().encode(s))

async function network (): Promise<{ state: NetworkState, ids: Identity[] }> {
  const ids = [await newIdentity(), await newIdentity()]
  return { state: await loadNetworkState([await toyManifest(ids, { method: 'linear' })]), ids }
}

/** The bytes whose CIDs an announcement of `module` names as its module blob and distilled set. */
const blobBytes = (module: string): [Uint8Array, Uint8Array] => [new TextEncoder().encode(`${module}/blob`), new TextEncoder().encode(`${module}/distilled`)]

async function announce (state: NetworkState, id: Identity, parentRoot: string, height: number, module = fakeCid('m')): Promise<Uint8Array> {
  const [blob, distilled] = blobBytes(module)
  return encodeRecord(await signRecord<ModuleAnnouncement>({
    type: 'module-announcement', network: state.network, task: 'a', module, moduleBlob: cidOfBytes(blob), distilled: cidOfBytes(distilled),
    head: null, parentRoot, height, samples: 10, metrics: {}, createdAt: Date.now()
  }, id))
}

async function attest (state: NetworkState, id: Identity, stateRoot: string, height: number, tip: string): Promise<Uint8Array> {
  return encodeRecord(await signRecord<StateAttestation>({
    type: 'state-attestation', network: state.network, height, modulesHash: new Uint8Array(32), moduleCount: 1, tip, stateRoot, engine: 'e', createdAt: Date.now()
  }, id))
}

function handler (state: NetworkState | (() => NetworkState), options: { blobBudget?: number } = {}) {
  const dir = tempDir('records')
  const ledger = new Ledger(join(dir, 'ledger.sqlite'))
  const blobs = createBlobStore(join(dir, 'blobs'), options.blobBudget === undefined ? {} : { maxBytes: options.blobBudget })
  const initial = typeof state === 'function' ? state() : state
  ledger.addComputedRoot(initial.network, initial.genesisRoot, 0)
  const announced: Array<{ module: string, from?: PeerId }> = []
  const refusals: string[] = []
  let changed = 0
  const records = createRecordHandler({
    state: typeof state === 'function' ? state : () => state,
    ledger,
    blobs,
    events: { emit: () => {} },
    countRefusal: code => { refusals.push(code) },
    pending: createPendingPool(),
    onAnnouncement: (module, from) => { announced.push({ module, ...(from === undefined ? {} : { from }) }) },
    onInputsChanged: () => { changed++ },
    onRevision: async () => {},
    log: () => {}
  })
  return { records, ledger, blobs, announced, refusals, changed: () => changed }
}

describe('record handler', () => {
  it('accepts an announcement once, stores it with its module, and asks for its blobs from the sender', async () => {
    const { state, ids } = await network()
    const h = handler(state)
    const from = peerIdFromString(ids[1]!.peerId)
    const bytes = await announce(state, ids[0]!, state.genesisRoot, 1)
    assert.equal((await h.records.handle(bytes, 'gossip', from)).verdict, 'accept')
    assert.equal(h.ledger.getModule(state.network, fakeCid('m'))?.status, 'fetching')
    assert.deepEqual(h.announced.map(a => [a.module, a.from?.toString()]), [[fakeCid('m'), from.toString()]])
    const again = await h.records.handle(bytes, 'gossip', from)
    assert.deepEqual([again.verdict, again.code], ['ignore', 'duplicate'])
    assert.deepEqual(h.refusals, ['duplicate'], 'a gossip replay is counted')
    await h.records.handle(bytes, 'sync', from)
    assert.deepEqual(h.refusals, ['duplicate'], 'a sync duplicate is ordinary')
  })

  it('parks an announcement on an unknown parent; an attestation makes the parent usable only at the height its tip module has here', async () => {
    const { state, ids } = await network()
    const h = handler(state)
    const settle = async (): Promise<void> => { for (let i = 0; i < 10; i++) await new Promise(resolve => setImmediate(resolve)) }
    const [rootA, rootB, madeUp] = [fakeCid('root A'), fakeCid('root B'), fakeCid('made up')]
    assert.equal((await h.records.handle(await announce(state, ids[0]!, state.genesisRoot, 1, fakeCid('m1')), 'gossip')).verdict, 'accept')
    const r = await h.records.handle(await announce(state, ids[0]!, rootA, 2, fakeCid('m2')), 'sync')
    assert.deepEqual([r.verdict, r.code], ['ignore', 'parent_unknown'])
    // Root A at height 1, tip m1 (height 1 here): usable, the parked announcement is applied.
    assert.equal((await h.records.handle(await attest(state, ids[1]!, rootA, 1, fakeCid('m1')), 'gossip')).verdict, 'accept')
    await settle()
    assert.deepEqual(h.announced.map(a => a.module), [fakeCid('m1'), fakeCid('m2')], 'released and applied')
    // Root B names a tip not known yet: it waits for it; the announcement on it waits too.
    await h.records.handle(await attest(state, ids[1]!, rootB, 3, fakeCid('m3')), 'gossip')
    await h.records.handle(await announce(state, ids[1]!, rootB, 4, fakeCid('m4')), 'sync')
    assert.equal(h.ledger.rootHeight(state.network, rootB), undefined)
    await h.records.handle(await announce(state, ids[0]!, fakeCid('root C'), 3, fakeCid('m3')), 'sync')
    await h.records.handle(await attest(state, ids[1]!, fakeCid('root C'), 2, fakeCid('m2')), 'gossip')
    await settle()
    assert.equal(h.ledger.rootHeight(state.network, rootB), 3, 'usable once its tip m3 arrived at height 3')
    assert.deepEqual(h.announced.map(a => a.module).slice(2), [fakeCid('m3'), fakeCid('m4')])
    // A made-up root at a huge height, tip a real module of height 1: never usable, nothing on it merges.
    await h.records.handle(await attest(state, ids[1]!, madeUp, 2 ** 53 - 2, fakeCid('m1')), 'gossip')
    const onMadeUp = await h.records.handle(await announce(state, ids[1]!, madeUp, 2 ** 53 - 1, fakeCid('m5')), 'gossip')
    assert.deepEqual([onMadeUp.verdict, onMadeUp.code], ['ignore', 'parent_unknown'])
    assert.equal(h.ledger.rootHeight(state.network, madeUp), undefined)
  })

  it('a false claim on another member\'s module gives way to the best remaining claim; the false claimant\'s revocation never applies', async () => {
    const { state, ids } = await network()
    const h = handler(state)
    const [honest, thief] = [ids[0]!, ids[1]!]
    const module = fakeCid('the honest module')
    const rootAt1 = fakeCid('root at 1')
    h.ledger.addComputedRoot(state.network, rootAt1, 1)
    // The honest author announces at height 2; the thief re-announces the same CID at height 1, so
    // its claim wins the row until the module blob shows whose module it is.
    assert.equal((await h.records.handle(await announce(state, honest, rootAt1, 2, module), 'gossip')).verdict, 'accept')
    assert.equal((await h.records.handle(await announce(state, thief, state.genesisRoot, 1, module), 'gossip')).verdict, 'accept')
    assert.equal(h.ledger.getModule(state.network, module)?.author, thief.peerId)
    const revocation = await addRevocationSignature({ type: 'revocation', network: state.network, module, moduleAuthor: thief.peerId, reason: 'mine', createdAt: Date.now() }, thief)
    assert.equal((await h.records.handle(encodeRecord(revocation), 'gossip')).verdict, 'accept')
    assert.equal(h.ledger.getModule(state.network, module)?.status, 'fetching', 'a revocation waits until the module is known to be its author\'s')
    // The fetcher found the file names the honest author: the thief's claim is dropped.
    assert.equal(h.ledger.transaction(() => dropFalseClaim(h.ledger, h.ledger.getModule(state.network, module)!, 'names another author')), true)
    const row = h.ledger.getModule(state.network, module)!
    assert.deepEqual([row.author, row.height, row.status, row.verified], [honest.peerId, 2, 'fetching', false])
    h.ledger.markVerified(state.network, module)
    assert.equal(applyWaitingRevocations(h.ledger, state.network, module), false)
    assert.equal(h.ledger.getModule(state.network, module)?.status, 'fetching', 'the thief\'s revocation does not apply')
    // Once verified, a new claim by anyone else is refused outright.
    const again = await h.records.handle(await announce(state, thief, rootAt1, 2, module), 'gossip')
    assert.deepEqual([again.verdict, again.code], ['reject', 'not_module_author'])
    // The author's own revocation does apply.
    const own = await addRevocationSignature({ type: 'revocation', network: state.network, module, moduleAuthor: honest.peerId, reason: 'withdrawn', createdAt: Date.now() }, honest)
    await h.records.handle(encodeRecord(own), 'gossip')
    assert.equal(h.ledger.getModule(state.network, module)?.status, 'revoked')
  })

  it('a module whose only claim was false stays invalid with the reason, until a real claim comes', async () => {
    const { state, ids } = await network()
    const h = handler(state)
    const module = fakeCid('claimed falsely')
    await h.records.handle(await announce(state, ids[1]!, state.genesisRoot, 1, module), 'gossip')
    assert.equal(h.ledger.transaction(() => dropFalseClaim(h.ledger, h.ledger.getModule(state.network, module)!, 'names another author')), false)
    assert.deepEqual([h.ledger.getModule(state.network, module)?.status, h.ledger.getModule(state.network, module)?.reason], ['invalid', 'names another author'])
    const rootAt1 = fakeCid('root at 1')
    h.ledger.addComputedRoot(state.network, rootAt1, 1)
    await h.records.handle(await announce(state, ids[0]!, rootAt1, 2, module), 'gossip')
    const row = h.ledger.getModule(state.network, module)!
    assert.deepEqual([row.author, row.status], [ids[0]!.peerId, 'fetching'], 'the real author\'s claim replaces the dropped one')
  })

  it('a record it has, arriving again by sync, is recognised from its bytes before any decoding or check', async () => {
    const { state, ids } = await network()
    let current = state
    const h = handler(() => current)
    const from = peerIdFromString(ids[1]!.peerId)
    const bytes = await attest(state, ids[0]!, fakeCid('root'), 1, fakeCid('m'))
    assert.equal((await h.records.handle(bytes, 'gossip', from)).verdict, 'accept')
    // Its author has since been revoked: the record is still one this node holds, and the peer
    // paging through its history (sync) is not refused for serving it.
    current = { ...state, revoked: new Set([ids[0]!.peerId]) }
    const again = await h.records.handle(bytes, 'sync', from)
    assert.deepEqual([again.verdict, again.code, again.record], ['ignore', 'duplicate', undefined], 'not decoded')
    assert.deepEqual(h.refusals, [])
    // A new record of the revoked author is still decoded and refused.
    const fresh = await h.records.handle(await attest(state, ids[0]!, fakeCid('root2'), 2, fakeCid('m')), 'sync', from)
    assert.deepEqual([fresh.verdict, fresh.code], ['reject', 'revoked_member'])
  })

  it('decodes a record once whatever its type: a forged signature is refused with its code', async () => {
    const { state, ids } = await network()
    const h = handler(state)
    const record = decodeRecord(await announce(state, ids[0]!, state.genesisRoot, 1)) as ModuleAnnouncement
    const forged = encodeRecord({ ...record, signature: new Uint8Array(64) })
    const r = await h.records.handle(forged, 'gossip')
    assert.deepEqual([r.verdict, r.code], ['reject', 'bad_signature'])
    assert.deepEqual(h.refusals, ['bad_signature'])
    assert.equal(h.ledger.hasRecord(recordCid(record)), false)
  })

  it('stores the blobs that came with an announcement, so nothing is fetched; a blob the announcement does not name refuses the envelope before anything is stored', async () => {
    const { state, ids } = await network()
    const h = handler(state)
    const from = peerIdFromString(ids[1]!.peerId)
    const bytes = await announce(state, ids[0]!, state.genesisRoot, 1)
    const [blob, distilled] = blobBytes(fakeCid('m'))
    const garbage = new TextEncoder().encode('not the distilled set')
    // A relay re-gossips a genuine announcement with other bytes attached: provably bad, refused.
    const forged = await h.records.handle(bytes, 'gossip', from, [blob, garbage])
    assert.deepEqual([forged.verdict, forged.code], ['reject', 'hash_mismatch'])
    assert.match(forged.detail!, /attached blob 1 .* hashes to b\w+, which the announcement does not name/)
    const twice = await h.records.handle(bytes, 'gossip', from, [blob, blob])
    assert.deepEqual([twice.verdict, twice.code], ['reject', 'malformed'])
    assert.equal(h.ledger.hasRecord(recordCid(decodeRecord(bytes))), false, 'the record was not stored')
    assert.deepEqual([h.blobs.size(cidOfBytes(blob)), h.announced.length], [undefined, 0])
    assert.deepEqual(h.refusals, ['hash_mismatch', 'malformed'])
    // The genuine envelope, arriving after, is accepted and its blobs are stored verified.
    assert.equal((await h.records.handle(bytes, 'gossip', from, [blob, distilled])).verdict, 'accept')
    assert.deepEqual(new Uint8Array(h.blobs.get(cidOfBytes(blob))!), blob)
    assert.deepEqual(new Uint8Array(h.blobs.get(cidOfBytes(distilled))!), distilled)
    assert.deepEqual(h.announced.map(a => a.module), [fakeCid('m')])
    // Once the record is known, another copy is a duplicate whatever is attached (not hashed again).
    const replay = await h.records.handle(bytes, 'gossip', from, [garbage])
    assert.deepEqual([replay.verdict, replay.code], ['ignore', 'duplicate'])
    // Only an announcement carries blobs.
    const attestation = await h.records.handle(await attest(state, ids[0]!, fakeCid('root'), 1, fakeCid('m')), 'gossip', from, [blob])
    assert.deepEqual([attestation.verdict, attestation.code], ['reject', 'malformed'])
    // One blob attached (the other too large to travel): that one is stored, the other is fetched.
    const [blob2, distilled2] = blobBytes(fakeCid('m2'))
    assert.equal((await h.records.handle(await announce(state, ids[1]!, state.genesisRoot, 1, fakeCid('m2')), 'gossip', from, [distilled2])).verdict, 'accept')
    assert.deepEqual([h.blobs.size(cidOfBytes(blob2)), h.blobs.size(cidOfBytes(distilled2))], [undefined, distilled2.length])
  })

  it('accepts an announcement whose attached blobs cannot be written (a full disk): they are fetched later instead', async () => {
    const { state, ids } = await network()
    const h = handler(state, { blobBudget: 8 })
    const [blob, distilled] = blobBytes(fakeCid('m'))
    const r = await h.records.handle(await announce(state, ids[0]!, state.genesisRoot, 1), 'gossip', undefined, [blob, distilled])
    assert.equal(r.verdict, 'accept')
    assert.deepEqual([h.blobs.size(cidOfBytes(blob)), h.blobs.size(cidOfBytes(distilled))], [undefined, undefined])
    assert.equal(h.ledger.getModule(state.network, fakeCid('m'))?.status, 'fetching')
    assert.deepEqual(h.announced.map(a => a.module), [fakeCid('m')], 'handed to the fetcher')
  })
})

describe('attester', () => {
  it('records the merge, makes its root a known parent, signs, applies and gossips an attestation', async () => {
    const { state, ids } = await network()
    const merges: MergeRow[] = []
    const roots: Array<[string, number]> = []
    const released: string[] = []
    const handled: Uint8Array[] = []
    const gossiped: Uint8Array[] = []
    const attester = createAttester({
      network: state.network,
      ledger: { addMerge: m => { merges.push(m) }, latestMerge: () => merges.at(-1), addComputedRoot: (_n, root, height) => { roots.push([root, height]); return true } },
      identity: ids[0]!,
      events: { emit: () => {} },
      records: { handle: async bytes => { handled.push(bytes); return { verdict: 'accept', code: 'ok' } }, release: root => { released.push(root) } },
      gossip: async bytes => { gossiped.push(bytes) },
      log: () => {}
    })
    const root = fakeCid('composite')
    await attester.attest({ stateRoot: root, engineVersion: 'e', method: { name: 'linear', weighting: 'uniform' } as never, inputs: [{ cid: 'a', task: 'a', height: 1, sampleCount: 1 }, { cid: 'b', task: 'a', height: 2, sampleCount: 1 }], metrics: {}, resumedFrom: 0 }, { startedAt: 0, finishedAt: 5, resumedFrom: 0 })
    assert.equal(merges.length, 1)
    assert.deepEqual(roots, [[root, 2]])
    assert.deepEqual(released, [root])
    assert.equal(handled.length, 1)
    assert.deepEqual(gossiped, handled)
    const a = decodeRecord(handled[0]!) as StateAttestation
    assert.deepEqual([a.type, a.stateRoot, a.height, a.moduleCount, a.tip, a.author], ['state-attestation', root, 2, 2, 'b', ids[0]!.peerId])
    // A restart recomputes the same state: attested again, but one lineage row per state.
    await attester.attest({ stateRoot: root, engineVersion: 'e', method: { name: 'linear', weighting: 'uniform' } as never, inputs: [{ cid: 'a', task: 'a', height: 1, sampleCount: 1 }, { cid: 'b', task: 'a', height: 2, sampleCount: 1 }], metrics: {}, resumedFrom: 2 }, { startedAt: 10, finishedAt: 12, resumedFrom: 2 })
    assert.deepEqual([merges.length, handled.length], [1, 2])
  })
})

describe('publisher', () => {
  it('announces a checked module on top of the current head, stores its blobs and gossips it; refuses what cannot be published', async () => {
    const { state, ids } = await network()
    const stored = new Map<string, Uint8Array>()
    const gossiped: Uint8Array[] = []
    const moduleFile = new Uint8Array([1])
    const distilledFile = new Uint8Array([2])
    let head = { stateRoot: fakeCid('head'), height: 4 }
    const announced: Array<{ task: string, height: number, module: string }> = []
    const make = (identity: Identity) => createPublisher({
      state: () => state,
      identity,
      compute: { checkPublish: async (_network, _task, _author, file, distilled) => ({ module: fakeCid('m'), head: null, moduleBlob: cidOfBytes(file), distilled: cidOfBytes(distilled), moduleFile: file }) },
      blobs: { putVerified: (cid, bytes) => { stored.set(cid, bytes); return cid } },
      head: () => head,
      announced: (task, height) => announced.filter(x => x.task === task && x.height === height).map(x => x.module),
      waitMs: 300,
      records: { handle: async bytes => ({ verdict: 'accept', code: 'ok', record: decodeRecord(bytes) }) },
      gossip: async bytes => { gossiped.push(bytes) },
      events: { emit: () => {} },
      log: () => {}
    })
    const a = await make(ids[0]!).publish({ task: 'a', moduleFile, distilledFile, samples: 12 })
    assert.deepEqual([a.parentRoot, a.height, a.module, a.samples, a.author], [head.stateRoot, 5, fakeCid('m'), 12, ids[0]!.peerId])
    assert.deepEqual([...stored.keys()].sort(), [cidOfBytes(moduleFile), cidOfBytes(distilledFile)].sort())
    assert.equal(gossiped.length, 1)
    // Gossiped as an envelope with both blobs attached: no peer has to fetch them.
    const envelope = decodeGossipEnvelope(gossiped[0]!, state.manifest.limits.maxMessageBytes)
    assert.deepEqual(decodeRecord(envelope.record), a)
    assert.deepEqual(envelope.blobs, [moduleFile, distilledFile])
    // A module file too large to attach stays behind; the distilled set still travels.
    await make(ids[1]!).publish({ task: 'a', moduleFile: new Uint8Array(MAX_ATTACHED_BLOB_BYTES + 1), distilledFile, samples: 12 })
    assert.deepEqual(decodeGossipEnvelope(gossiped[1]!, state.manifest.limits.maxMessageBytes).blobs.map(b => b.length), [distilledFile.length])
    // This site's previous module of the task is still at the next height: the next one waits for
    // the head to move (else both would be lost to the equivocation rule), and gives up with a reason.
    announced.push({ task: 'a', height: head.height + 1, module: fakeCid('earlier') })
    await assert.rejects(make(ids[0]!).publish({ task: 'a', moduleFile, distilledFile, samples: 12 }), /previous a module .* is not merged yet/)
    const waiting = make(ids[0]!).publish({ task: 'a', moduleFile, distilledFile, samples: 12 })
    setTimeout(() => { head = { stateRoot: fakeCid('merged'), height: 5 } }, 100)
    assert.deepEqual([(await waiting).parentRoot, (await waiting).height], [fakeCid('merged'), 6], 'announced on the head that includes the earlier module')
    await assert.rejects(make(ids[0]!).publish({ task: 'zzz', moduleFile, distilledFile, samples: 1 }), (err: unknown) => err instanceof InvalidModuleError && err.reason === 'unknown_task')
    await assert.rejects(make(await newIdentity()).publish({ task: 'a', moduleFile, distilledFile, samples: 1 }), /is not a contributor/)
    await assert.rejects(make(ids[0]!).publish({ task: 'a', moduleFile: new Uint8Array(2 << 20), distilledFile, samples: 1 }), (err: unknown) => err instanceof InvalidModuleError && err.reason === 'too_large')
  })
})
