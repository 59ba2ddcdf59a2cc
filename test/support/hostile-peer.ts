// The daemon-network suite's hostile peer, built on the adversary harness: it gossips an
// announcement by a non-member, one with a forged signature, and one whose blob it serves with the
// wrong bytes; then an outsider (not a member) tries to connect.
import { randomBytes } from 'node:crypto'
import { multiaddr } from '@multiformats/multiaddr'
import { encodeDistilledSet, encodeModuleFile, headCid, moduleCid, ToyModel } from '@medforge/merge-core'
import { encodeRecord, newIdentity } from '@medforge/protocol'
import type { Identity, ModuleAnnouncement } from '@medforge/protocol'
import { createMedforgeLibp2p } from '@medforge/node'
import { createAdversary } from './adversary.ts'
import type { Testnet } from './testnet-fixture.ts'

export interface HostileReport { readonly moduleCid: string, readonly outsiderConnected: boolean }

export async function runHostilePeer (options: { net: Testnet, mallory: Identity, target: string, parentRoot: string, height: number, whileConnected: () => Promise<void> }): Promise<HostileReport> {
  const model = new ToyModel()
  const module = model.train('task-1', model.makeData('task-1', 32, 'mallory'), { epochs: 5, seed: 'mallory' })
  const distilled = model.makeData('task-1', 4, 'mallory/d')
  const mallory = await createAdversary(options.mallory, options.net.network)
  try {
    await mallory.connect(options.target)
    await mallory.waitForMesh()
    const fields = {
      task: 'task-1',
      module: moduleCid(module),
      moduleBlob: mallory.offer(encodeModuleFile(module), 'garbage'),
      distilled: mallory.offer(encodeDistilledSet({ task: 'task-1', inputs: { shape: [4, model.spec.inputs], data: distilled.x }, labels: distilled.y }), 'garbage'),
      head: headCid(module) ?? null,
      parentRoot: options.parentRoot,
      height: options.height,
      samples: 32,
      metrics: {}
    }
    const outsider = await newIdentity()
    const byOutsider = await mallory.announce(fields, outsider)
    const forged: ModuleAnnouncement = { ...byOutsider, author: options.net.sites[1]!.identity.peerId, signature: new Uint8Array(randomBytes(64)) }
    for (const record of [byOutsider, forged, await mallory.announce(fields)]) {
      await mallory.gossip(encodeRecord(record))
      await new Promise(r => setTimeout(r, 200))
    }
    // Stay connected long enough for the target to ask for (and refuse) the blob.
    await new Promise(r => setTimeout(r, 3000))
    await options.whileConnected()
    const outsiderNode = await createMedforgeLibp2p({ privateKey: outsider.privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], maxMessageBytes: 16384 })
    let outsiderConnected = false
    try {
      await outsiderNode.dial(multiaddr(options.target), { signal: AbortSignal.timeout(5000) })
      await new Promise(r => setTimeout(r, 500))
      outsiderConnected = outsiderNode.getConnections().some(c => c.status === 'open')
    } catch {
      outsiderConnected = false
    } finally {
      await outsiderNode.stop()
    }
    return { moduleCid: moduleCid(module), outsiderConnected }
  } finally {
    await mallory.stop()
  }
}
