// The blob and sync servers answer members only, whatever the connection gater let in (issue 14,
// finding 9: with membersOnly off, or after an outbound dial to an address without /p2p/, a
// non-member could download every record, module and distilled set).
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { multiaddr } from '@multiformats/multiaddr'
import { encodeDistilledSet, encodeModuleFile } from '@medforge/merge-core'
import { RemoteStatusError, newIdentity } from '@medforge/protocol'
import type { Identity } from '@medforge/protocol'
import { startDaemon } from '../src/daemon/daemon.ts'
import type { Daemon } from '../src/daemon/daemon.ts'
import { fetchBlob } from '../src/p2p/blob-exchange.ts'
import { createMedforgeLibp2p } from '../src/p2p/create-libp2p.ts'
import type { MedforgeLibp2p } from '../src/p2p/create-libp2p.ts'
import { syncFrom } from '../src/p2p/sync-exchange.ts'
import { DataDir } from '../src/store/data-dir.ts'
import { loadNetworkState } from '../src/daemon/network-state.ts'
import { tempDir, toyManifest, toyModel } from './support.ts'

describe('serving members only', () => {
  let daemon: Daemon
  let member: Identity
  let network: string
  let moduleBlob: string
  const nodes: MedforgeLibp2p[] = []

  before(async () => {
    const dataDir = new DataDir(tempDir('serve'))
    const own = await dataDir.init('Server', { listen: ['/ip4/127.0.0.1/tcp/0'], api: '127.0.0.1:0' })
    member = await newIdentity()
    const manifest = await toyManifest([own, member], { method: 'linear' })
    const state = await loadNetworkState([manifest])
    network = state.network
    dataDir.saveChain(network, [manifest])
    dataDir.writeConfig({ ...dataDir.config(), networks: [network], membersOnly: false })
    daemon = await startDaemon({ dataDir: dataDir.dir })
    const module = toyModel.train('a', toyModel.makeData('a', 16, 'serve'), { epochs: 3, seed: 'serve' })
    const d = toyModel.makeData('a', 4, 'serve-d')
    const announcement = await daemon.runtime().publish({ task: 'a', moduleFile: encodeModuleFile(module), distilledFile: encodeDistilledSet({ task: 'a', inputs: { shape: [4, toyModel.spec.inputs], data: d.x }, labels: d.y }), samples: 16 })
    moduleBlob = announcement.moduleBlob
  })
  after(async () => {
    for (const n of nodes) await n.stop()
    await daemon.stop()
  })

  const connect = async (identity: Identity): Promise<MedforgeLibp2p> => {
    const node = await createMedforgeLibp2p({ privateKey: identity.privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], maxMessageBytes: 16384 })
    nodes.push(node)
    await node.dial(multiaddr(daemon.libp2p.getMultiaddrs()[0]!.toString()))
    return node
  }

  it('refuses a non-member that got through (membersOnly off) blobs and records; serves a member', async () => {
    const stranger = await connect(await newIdentity())
    await assert.rejects(fetchBlob(stranger, daemon.libp2p.peerId, moduleBlob, { maxBytes: 1 << 20, signal: AbortSignal.timeout(5000) }), (err: unknown) => err instanceof RemoteStatusError && /not a member/.test(err.message))
    await assert.rejects(syncFrom(stranger, daemon.libp2p.peerId, { network, maxRecordBytes: 16384, unknown: ids => [...ids], signal: AbortSignal.timeout(5000), onRecords: async () => { assert.fail('no record may reach a non-member') } }))
    const friend = await connect(member)
    const bytes = await fetchBlob(friend, daemon.libp2p.peerId, moduleBlob, { maxBytes: 1 << 20, signal: AbortSignal.timeout(5000) })
    assert.ok(bytes.length > 0)
    let received = 0
    await syncFrom(friend, daemon.libp2p.peerId, { network, maxRecordBytes: 16384, unknown: ids => [...ids], signal: AbortSignal.timeout(5000), onRecords: async records => { received += records.length } })
    assert.ok(received >= 1, 'the member pages through the records')
  })
})
