// The sync protocol over real libp2p streams: an inventory of CIDs first, then only the records the
// asker lacks, in the peer's order; a peer that answers with records nobody asked for is refused.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { MAX_SYNC_PAGE, MalformedError, SYNC_PROTOCOL, cidOfCanonicalBytes, decodeSyncRequest, encodeCanonical, encodeSyncInventory, encodeSyncRecords, newIdentity } from '@medforge/protocol'
import { createMedforgeLibp2p } from '../src/p2p/create-libp2p.ts'
import type { MedforgeLibp2p } from '../src/p2p/create-libp2p.ts'
import { readRequest, sendFrames } from '../src/p2p/stream-io.ts'
import { syncFrom } from '../src/p2p/sync-exchange.ts'
import { Ledger } from '../src/store/ledger.ts'
import { tempDir } from './support.ts'

const NETWORK = 'net-a'
/** Distinct canonical "records" (the exchange moves bytes; validation is the runtime's job). */
const record = (i: number): Uint8Array => encodeCanonical({ i, pad: 'x'.repeat(Math.abs(i) % 7) })

describe('sync exchange', () => {
  const nodes: MedforgeLibp2p[] = []
  let ledger: Ledger
  let server: MedforgeLibp2p
  let client: MedforgeLibp2p
  const count = MAX_SYNC_PAGE + 44 // more than one records batch
  const all = Array.from({ length: count }, (_, i) => record(i))

  const start = async (options: Parameters<typeof createMedforgeLibp2p>[0] extends infer O ? Partial<O> : never = {}): Promise<MedforgeLibp2p> => {
    const node = await createMedforgeLibp2p({ privateKey: (await newIdentity()).privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], maxMessageBytes: 16384, ...options })
    nodes.push(node)
    return node
  }

  before(async () => {
    ledger = new Ledger(join(tempDir('sync'), 'ledger.sqlite'))
    for (const bytes of all) ledger.addRecord({ cid: cidOfCanonicalBytes(bytes), network: NETWORK, type: 'state-attestation', author: 'p', bytes })
    ledger.addRecord({ cid: cidOfCanonicalBytes(record(-1)), network: 'net-b', type: 'state-attestation', author: 'p', bytes: record(-1) })
    server = await start({ sync: { ledger, networks: () => new Set([NETWORK]) } })
    client = await start()
    await client.dial(multiaddr(server.getMultiaddrs()[0]!.toString()))
  })
  after(async () => {
    for (const n of nodes) await n.stop()
    ledger.close()
  })

  it('fetches only the records the asker lacks, in the peer\'s order, and resumes from the cursor', async () => {
    const known = new Set(all.filter((_, i) => i % 3 !== 0).map(b => cidOfCanonicalBytes(b)))
    const got: Uint8Array[] = []
    const first = await syncFrom(client, server.peerId, { network: NETWORK, maxRecordBytes: 16384, signal: AbortSignal.timeout(10_000), unknown: ids => ids.filter(id => !known.has(id)), onRecords: async r => { got.push(...r) } })
    const expected = all.filter((_, i) => i % 3 === 0)
    assert.equal(first.received, expected.length)
    assert.deepEqual(got, expected)
    assert.equal(first.cursor, count)

    // Nothing after the cursor: one inventory, nothing fetched.
    const again = await syncFrom(client, server.peerId, { network: NETWORK, maxRecordBytes: 16384, after: first.cursor, signal: AbortSignal.timeout(10_000), unknown: ids => [...ids], onRecords: async () => { assert.fail('nothing is new') } })
    assert.deepEqual(again, { received: 0, cursor: count })
  })

  it('asks again for the rest when an answer is cut short, and stops when the peer no longer has them', async () => {
    const peer = await start()
    const asked: string[][] = []
    // A peer answering one record per request (as when a page would overflow a frame), and that
    // lost the second half of its inventory.
    await peer.handle(SYNC_PROTOCOL, async (stream) => {
      const req = decodeSyncRequest(await readRequest(stream, 1 << 20, AbortSignal.timeout(5000)))
      const ids = all.slice(0, 6).map(b => cidOfCanonicalBytes(b))
      const answer = req.want === 'ids'
        ? encodeSyncInventory({ ids: req.after === 0 ? ids : [], next: req.after === 0 ? 6 : null })
        : encodeSyncRecords({ records: all.slice(0, 3).filter(b => req.ids[0] === cidOfCanonicalBytes(b)) })
      if (req.want === 'records') asked.push([...req.ids])
      await sendFrames(stream, [answer], AbortSignal.timeout(5000))
      await stream.close()
    })
    await client.dial(multiaddr(peer.getMultiaddrs()[0]!.toString()))
    const got: Uint8Array[] = []
    const result = await syncFrom(client, peer.peerId, { network: NETWORK, maxRecordBytes: 16384, signal: AbortSignal.timeout(10_000), unknown: ids => [...ids], onRecords: async r => { got.push(...r) } })
    assert.deepEqual(got, all.slice(0, 3))
    assert.deepEqual(asked.map(a => a.length), [6, 5, 4, 3])
    assert.deepEqual(result, { received: 3, cursor: 6 })
  })

  it('refuses records that were not asked for (a peer may not push its own)', async () => {
    const hostile = await start()
    await hostile.handle(SYNC_PROTOCOL, async (stream) => {
      const req = decodeSyncRequest(await readRequest(stream, 1 << 20, AbortSignal.timeout(5000)))
      const answer = req.want === 'ids' ? encodeSyncInventory({ ids: [cidOfCanonicalBytes(record(1))], next: 1 }) : encodeSyncRecords({ records: [record(2)] })
      await sendFrames(stream, [answer], AbortSignal.timeout(5000))
      await stream.close()
    })
    await client.dial(multiaddr(hostile.getMultiaddrs()[0]!.toString()))
    await assert.rejects(
      syncFrom(client, hostile.peerId, { network: NETWORK, maxRecordBytes: 16384, signal: AbortSignal.timeout(10_000), unknown: ids => [...ids], onRecords: async () => { assert.fail('an unasked record must not be handled') } }),
      (err: unknown) => err instanceof MalformedError && /not asked for/.test(err.message))
  })

  it('serves nothing of a network it has not joined, and no other network\'s records by CID', async () => {
    let received = 0
    const other = await syncFrom(client, server.peerId, { network: 'net-b', maxRecordBytes: 16384, signal: AbortSignal.timeout(10_000), unknown: ids => [...ids], onRecords: async r => { received += r.length } })
    assert.deepEqual([other.received, received], [0, 0])
    assert.deepEqual(ledger.recordsById(NETWORK, [cidOfCanonicalBytes(record(-1))]), [])
  })
})
