// A real libp2p peer with hostile behaviour, run in-process against real daemons: it gossips an
// announcement by a non-member, one with a forged signature, and one whose blob it serves with
// the wrong bytes; and an outsider (not a member) tries to connect.
import { randomBytes } from 'node:crypto'
import { multiaddr } from '@multiformats/multiaddr'
import { encodeDistilledSet, encodeModuleFile, headCid, moduleCid, ToyModel } from '@medforge/merge-core'
import { BLOB_PROTOCOL, encodeBlobResponseHeader, encodeFrame, encodeRecord, newIdentity, rawCidOf, signRecord, topics } from '@medforge/protocol'
import type { Identity, ModuleAnnouncement } from '@medforge/protocol'
import { createMedforgeLibp2p } from '../../packages/node/src/p2p/create-libp2p.ts'
import type { Testnet } from './testnet-fixture.ts'

export interface HostileReport { readonly moduleCid: string, readonly outsiderConnected: boolean }

export async function runHostilePeer (options: { net: Testnet, mallory: Identity, target: string, parentRoot: string, height: number, whileConnected: () => Promise<void> }): Promise<HostileReport> {
  const { net, mallory } = options
  const topic = topics(net.network).modules
  const node = await createMedforgeLibp2p({ privateKey: mallory.privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], maxMessageBytes: 16384 })
  const model = new ToyModel()
  const module = model.train('task-1', model.makeData('task-1', 32, 'mallory'), { epochs: 5, seed: 'mallory' })
  const moduleFile = encodeModuleFile(module)
  const distilled = model.makeData('task-1', 4, 'mallory/d')
  const distilledFile = encodeDistilledSet({ task: 'task-1', inputs: { shape: [4, model.spec.inputs], data: distilled.x }, labels: distilled.y })
  // Serves every blob request with bytes of the right length that do not match the CID.
  await node.handle(BLOB_PROTOCOL, async stream => {
    const garbage = randomBytes(moduleFile.length)
    stream.send(encodeBlobResponseHeader({ status: 'ok', size: garbage.length, message: '' }))
    stream.send(encodeFrame(garbage))
    await stream.close()
  })
  try {
    node.services.pubsub.subscribe(topic)
    await node.dial(multiaddr(options.target))
    const deadline = Date.now() + 15_000
    while (node.services.pubsub.getSubscribers(topic).length === 0 && Date.now() < deadline) await new Promise(r => setTimeout(r, 100))
    await new Promise(r => setTimeout(r, 1500)) // let the mesh form (one heartbeat)
    const body = {
      type: 'module-announcement' as const,
      network: net.network,
      task: 'task-1',
      module: moduleCid(module),
      moduleBlob: rawCidOf(moduleFile),
      distilled: rawCidOf(distilledFile),
      head: headCid(module) ?? null,
      parentRoot: options.parentRoot,
      height: options.height,
      samples: 32,
      metrics: {},
      createdAt: Date.now()
    }
    const outsider = await newIdentity()
    const byOutsider = await signRecord<ModuleAnnouncement>(body, outsider)
    const honest = net.sites[1]!.identity.peerId
    const forged: ModuleAnnouncement = { ...byOutsider, author: honest, signature: new Uint8Array(randomBytes(64)) }
    const valid = await signRecord<ModuleAnnouncement>(body, mallory)
    for (const record of [byOutsider, forged, valid]) {
      await node.services.pubsub.publish(topic, encodeRecord(record))
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
    await node.stop()
  }
}
