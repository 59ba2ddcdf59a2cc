// The network runtime's services with stubbed neighbours: the record handler (decode once, apply,
// park and release), the attester and the publisher.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { cidOfBytes } from '@medforge/merge-core'
import { decodeRecord, encodeRecord, newIdentity, recordCid, signRecord } from '@medforge/protocol'
import type { Identity, ModuleAnnouncement, StateAttestation } from '@medforge/protocol'
import { createAttester } from '../src/daemon/attester.ts'
import { loadNetworkState } from '../src/daemon/network-state.ts'
import type { NetworkState } from '../src/daemon/network-state.ts'
import { createPendingPool } from '../src/daemon/pending-pool.ts'
import { createPublisher } from '../src/daemon/publisher.ts'
import { createRecordHandler } from '../src/daemon/record-handler.ts'
import { InvalidModuleError } from '../src/errors.ts'
import { Ledger } from '../src/store/ledger.ts'
import { tempDir, toyManifest } from './support.ts'

const fakeCid = (s: string): string => cidOfBytes(new TextEncoder().encode(s))

async function network (): Promise<{ state: NetworkState, ids: Identity[] }> {
  const ids = [await newIdentity(), await newIdentity()]
  return { state: await loadNetworkState([await toyManifest(ids, { method: 'linear' })]), ids }
}

async function announce (state: NetworkState, id: Identity, parentRoot: string, height: number, module = fakeCid('m')): Promise<Uint8Array> {
  return encodeRecord(await signRecord<ModuleAnnouncement>({
    type: 'module-announcement', network: state.network, task: 'a', module, moduleBlob: fakeCid(`${module}/blob`), distilled: fakeCid(`${module}/distilled`),
    head: null, parentRoot, height, samples: 10, metrics: {}, createdAt: Date.now()
  }, id))
}

async function attest (state: NetworkState, id: Identity, stateRoot: string, height: number): Promise<Uint8Array> {
  return encodeRecord(await signRecord<StateAttestation>({
    type: 'state-attestation', network: state.network, height, modulesHash: new Uint8Array(32), moduleCount: 1, stateRoot, engine: 'e', createdAt: Date.now()
  }, id))
}

function handler (state: NetworkState) {
  const ledger = new Ledger(join(tempDir('records'), 'ledger.sqlite'))
  ledger.addComputedRoot(state.network, state.genesisRoot, 0)
  const announced: Array<{ module: string, from?: PeerId }> = []
  const refusals: string[] = []
  let changed = 0
  const records = createRecordHandler({
    state: () => state,
    ledger,
    events: { emit: () => {} },
    countRefusal: code => { refusals.push(code) },
    pending: createPendingPool(),
    onAnnouncement: (module, from) => { announced.push({ module, ...(from === undefined ? {} : { from }) }) },
    onInputsChanged: () => { changed++ },
    log: () => {}
  })
  return { records, ledger, announced, refusals, changed: () => changed }
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

  it('parks an announcement on an unknown parent and applies it when an attestation makes the parent known', async () => {
    const { state, ids } = await network()
    const h = handler(state)
    const parent = fakeCid('some root')
    const r = await h.records.handle(await announce(state, ids[0]!, parent, 3), 'sync')
    assert.deepEqual([r.verdict, r.code], ['ignore', 'parent_unknown'])
    assert.equal(h.announced.length, 0)
    assert.equal((await h.records.handle(await attest(state, ids[1]!, parent, 2), 'gossip')).verdict, 'accept')
    for (let i = 0; i < 10; i++) await new Promise(resolve => setImmediate(resolve))
    assert.equal(h.announced.length, 1, 'released and applied')
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
})

describe('attester', () => {
  it('records the merge, makes its root a known parent, signs, applies and gossips an attestation', async () => {
    const { state, ids } = await network()
    const merges: unknown[] = []
    const roots: Array<[string, number]> = []
    const released: string[] = []
    const handled: Uint8Array[] = []
    const gossiped: Uint8Array[] = []
    const attester = createAttester({
      network: state.network,
      ledger: { addMerge: m => { merges.push(m) }, addComputedRoot: (_n, root, height) => { roots.push([root, height]); return true } },
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
    assert.deepEqual([a.type, a.stateRoot, a.height, a.moduleCount, a.author], ['state-attestation', root, 2, 2, ids[0]!.peerId])
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
    const announced: Array<{ task: string, parentRoot: string, module: string }> = []
    const make = (identity: Identity) => createPublisher({
      state: () => state,
      identity,
      compute: { checkPublish: async () => ({ module: fakeCid('m'), head: null, moduleBlob: cidOfBytes(moduleFile), distilled: cidOfBytes(distilledFile) }) },
      blobs: { putVerified: (cid, bytes) => { stored.set(cid, bytes); return cid } },
      head: () => head,
      announced: (task, parentRoot) => announced.filter(x => x.task === task && x.parentRoot === parentRoot).map(x => x.module),
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
    // This site's previous module of the task is still on this parent: the next one waits for the
    // head to move (else both would be lost to the equivocation rule), and gives up with a reason.
    announced.push({ task: 'a', parentRoot: head.stateRoot, module: fakeCid('earlier') })
    await assert.rejects(make(ids[0]!).publish({ task: 'a', moduleFile, distilledFile, samples: 12 }), /previous a module .* is not merged yet/)
    const waiting = make(ids[0]!).publish({ task: 'a', moduleFile, distilledFile, samples: 12 })
    setTimeout(() => { head = { stateRoot: fakeCid('merged'), height: 5 } }, 100)
    assert.deepEqual([(await waiting).parentRoot, (await waiting).height], [fakeCid('merged'), 6], 'announced on the head that includes the earlier module')
    await assert.rejects(make(ids[0]!).publish({ task: 'zzz', moduleFile, distilledFile, samples: 1 }), (err: unknown) => err instanceof InvalidModuleError && err.reason === 'unknown_task')
    await assert.rejects(make(await newIdentity()).publish({ task: 'a', moduleFile, distilledFile, samples: 1 }), /is not a contributor/)
    await assert.rejects(make(ids[0]!).publish({ task: 'a', moduleFile: new Uint8Array(2 << 20), distilledFile, samples: 1 }), (err: unknown) => err instanceof InvalidModuleError && err.reason === 'too_large')
  })
})
