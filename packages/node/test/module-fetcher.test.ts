// The module fetcher with stubbed components: peer order, penalties for bad bytes, verification on
// the compute side, a rotten local copy refetched rather than blamed on the module.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { cidOfBytes } from '@medforge/merge-core'
import { HashMismatchError, RemoteStatusError, newIdentity } from '@medforge/protocol'
import type { ModuleRef } from '../src/compute/merge-job.ts'
import type { ClaimOutcome, VerifyOutcome } from '../src/compute/compute-engine.ts'
import { createModuleFetcher } from '../src/daemon/module-fetcher.ts'
import { ComputeWorkerError } from '../src/errors.ts'
import type { ModuleRow, ModuleStatus } from '../src/store/ledger.ts'

async function peers (n: number): Promise<PeerId[]> {
  return await Promise.all(Array.from({ length: n }, async () => peerIdFromString((await newIdentity()).peerId)))
}

async function setUp (options: { verify?: (ref: ModuleRef) => Promise<VerifyOutcome>, claim?: (ref: ModuleRef) => ClaimOutcome, drop?: (row: ModuleRow, rows: Map<string, ModuleRow>) => boolean, fetch?: (peer: PeerId, cid: string) => Promise<Uint8Array> } = {}) {
  const [self, author, relay, other] = await peers(4)
  const moduleFile = new Uint8Array([1, 2, 3])
  const distilledFile = new Uint8Array([4, 5])
  const row: ModuleRow = {
    network: 'net', cid: 'module-1', recordCid: 'r', task: 't', height: 1, author: author!.toString(), moduleBlob: cidOfBytes(moduleFile), distilled: cidOfBytes(distilledFile),
    head: null, samples: 1, parentRoot: 'p', status: 'fetching', reason: null, admittedAt: 0, bytes: null, verified: false
  }
  const rows = new Map([[row.cid, row]])
  const stored = new Map<string, Uint8Array>()
  const asked: string[] = []
  const penalties: Array<[string, number]> = []
  const refusals: string[] = []
  const ready: string[] = []
  const dropped: string[] = []
  const verified: string[] = []
  const setStatus = (cid: string, status: ModuleStatus, reason: string | null = null): void => { rows.set(cid, { ...rows.get(cid)!, status, reason }) }
  const fetcher = createModuleFetcher({
    network: 'net',
    ledger: {
      getModule: (_n, cid) => rows.get(cid),
      modules: () => [...rows.values()].filter(r => r.status === 'fetching'),
      setModuleStatus: (_n, cid, status, reason) => { setStatus(cid, status, reason ?? null) },
      markReady: (_n, cid) => { if (rows.get(cid)?.status !== 'fetching') return false; setStatus(cid, 'ready'); return true },
      markVerified: (_n, cid) => { rows.set(cid, { ...rows.get(cid)!, verified: true }) }
    },
    blobs: { get: cid => stored.get(cid), putVerified: (cid, bytes) => { stored.set(cid, bytes); return cid }, size: cid => stored.get(cid)?.length },
    compute: {
      verify: async (_n, ref) => await (options.verify ?? (async () => ({ ok: true })))(ref),
      checkClaim: async (_n, ref) => (options.claim ?? (() => ({ ok: true })))(ref)
    },
    events: { emit: () => {} },
    penalties: { penalize: (p, points) => { penalties.push([p, points]) } },
    countRefusal: code => { refusals.push(code) },
    self: self!,
    connectedPeers: () => [other!, author!, relay!],
    fetchBlob: async (peer, cid) => {
      asked.push(peer.toString())
      if (options.fetch !== undefined) return await options.fetch(peer, cid)
      return cid === row.moduleBlob ? moduleFile : distilledFile
    },
    maxModuleBytes: () => 1 << 20,
    onReady: cid => { ready.push(cid) },
    dropClaim: r => { dropped.push(r.recordCid); if (options.drop !== undefined) return options.drop(r, rows); setStatus(r.cid, 'invalid'); return false },
    onVerified: cid => { verified.push(cid) },
    log: () => {}
  }, { sweepMs: 60_000 })
  const settle = async (): Promise<void> => { for (let i = 0; i < 20; i++) await new Promise(resolve => setImmediate(resolve)) }
  return { fetcher, row, rows, stored, asked, penalties, refusals, ready, dropped, verified, settle, author: author!, relay: relay!, other: other! }
}

describe('module fetcher', () => {
  it('asks the peer it heard the module from first, stores both blobs, verifies, turns the module ready', async () => {
    const t = await setUp()
    t.fetcher.enqueue(t.row.cid, t.relay)
    await t.settle()
    assert.deepEqual(t.asked, [t.relay.toString(), t.relay.toString()])
    assert.deepEqual(t.ready, ['module-1'])
    assert.equal(t.rows.get('module-1')!.status, 'ready')
    assert.equal(t.stored.size, 2)
  })

  it('a claim on someone else\'s module is dropped once the module blob shows its author: the rest is never fetched, the claimant penalised', async () => {
    const t = await setUp({ claim: ref => ({ ok: false, reason: 'not_module_author', message: `module ${ref.cid} names someone else as its author` }) })
    t.fetcher.enqueue(t.row.cid, t.relay)
    await t.settle()
    assert.deepEqual(t.asked, [t.relay.toString()], 'only the module blob was asked for')
    assert.deepEqual(t.dropped, ['r'])
    assert.deepEqual(t.refusals, ['not_module_author'])
    assert.deepEqual(t.penalties.map(([p]) => p), [t.row.author])
    assert.deepEqual([t.ready, t.verified], [[], []])
  })

  it('when another claim takes the row after a false one is dropped, the module is fetched again at once, under the new claim', async () => {
    let claims = 0
    const t = await setUp({
      claim: ref => ++claims === 1 ? { ok: false, reason: 'not_module_author', message: `${ref.cid}: someone else's` } : { ok: true },
      drop: (row, rows) => { rows.set(row.cid, { ...row, recordCid: 'r2' }); return true }
    })
    t.fetcher.enqueue(t.row.cid, t.relay)
    await t.settle()
    assert.equal(claims, 2, 'the new claim was checked')
    assert.deepEqual([t.ready, t.rows.get('module-1')!.recordCid], [['module-1'], 'r2'])
  })

  it('a peer sending wrong bytes is penalised and counted; the next peer (the author) is asked', async () => {
    const t = await setUp({ fetch: async (peer, cid) => { if (peer.equals(t.relay)) throw new HashMismatchError(cid, 'bafkreiwrong'); return new Uint8Array([cid.length]) } })
    t.fetcher.enqueue(t.row.cid, t.relay)
    await t.settle()
    assert.equal(t.asked[0], t.relay.toString())
    assert.equal(t.asked[1], t.author.toString(), 'then the author')
    assert.deepEqual(t.penalties.filter(([p]) => p === t.relay.toString()).map(([, n]) => n), [50])
    assert.deepEqual(t.refusals, ['hash_mismatch'])
  })

  it('a relay that has not fetched the blobs yet ("not found") is passed over unpenalised; one whose fetch fails is penalised', async () => {
    const notYet = await setUp({ fetch: async (peer, cid) => { if (peer.equals(notYet.relay)) throw new RemoteStatusError('not_found', ''); return new Uint8Array([cid.length]) } })
    notYet.fetcher.enqueue(notYet.row.cid, notYet.relay)
    await notYet.settle()
    assert.deepEqual(notYet.asked.slice(0, 2), [notYet.relay.toString(), notYet.author.toString()])
    assert.deepEqual(notYet.penalties, [])
    assert.deepEqual(notYet.ready, ['module-1'])
    const broken = await setUp({ fetch: async (peer, cid) => { if (peer.equals(broken.relay)) throw new RemoteStatusError('error', 'disk read failed'); return new Uint8Array([cid.length]) } })
    broken.fetcher.enqueue(broken.row.cid, broken.relay)
    await broken.settle()
    assert.deepEqual(broken.penalties, [[broken.relay.toString(), 2]])
    assert.deepEqual(broken.ready, ['module-1'])
  })

  it('a module that fails verification is invalid, its author penalised, the reason counted', async () => {
    const t = await setUp({ verify: async () => ({ ok: false, reason: 'wrong_shape', message: 'module-1: rank is 8, the network says 4' }) })
    t.fetcher.enqueue(t.row.cid)
    await t.settle()
    assert.equal(t.rows.get('module-1')!.status, 'invalid')
    assert.match(t.rows.get('module-1')!.reason!, /rank is 8/)
    assert.deepEqual(t.refusals, ['wrong_shape'])
    assert.deepEqual(t.penalties, [[t.author.toString(), 30]])
    assert.deepEqual(t.ready, [])
  })

  it('a rotten local copy is read back through the store (quarantined) and retried, not blamed on the module', async () => {
    let calls = 0
    const t = await setUp({ verify: async () => { if (calls++ === 0) throw new ComputeWorkerError('blob is corrupt', 'ERR_CORRUPT_BLOB'); return { ok: true } } })
    t.fetcher.enqueue(t.row.cid)
    await t.settle()
    assert.equal(t.rows.get('module-1')!.status, 'fetching', 'not invalid')
    await new Promise(resolve => setTimeout(resolve, 300)) // the first retry comes after 200 ms
    await t.settle()
    assert.equal(t.rows.get('module-1')!.status, 'ready')
    assert.deepEqual(t.refusals, [])
    t.fetcher.stop()
  })
})
