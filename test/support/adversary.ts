// A hostile member peer for the adversarial suite: a real libp2p node (same stack as the daemon)
// that gossips whatever bytes it is told to, serves blobs in hostile ways, and can write raw junk
// onto the gossipsub stream.
import { randomBytes } from 'node:crypto'
import type { PeerId, Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { BLOB_PROTOCOL, decodeBlobRequest, encodeBlobResponseHeader, encodeFrame, encodeGossipEnvelope, signRecord, topics } from '@medforge/protocol'
import { cidOfBytes } from '@medforge/merge-core'
import type { Identity, ModuleAnnouncement } from '@medforge/protocol'
import { lpStream } from '@libp2p/utils'
import { createMedforgeLibp2p } from '@medforge/node'
import type { MedforgeLibp2p } from '@medforge/node'

export type BlobMode = 'honest' | 'garbage' | 'stall' | 'disconnect' | 'oversized'

export interface Adversary {
  readonly node: MedforgeLibp2p
  readonly peerId: string
  connect (addr: string): Promise<void>
  waitForMesh (): Promise<void>
  /** Gossips a record (any bytes) on the modules topic, in an envelope with `blobs` attached. */
  gossip (record: Uint8Array, blobs?: readonly Uint8Array[]): Promise<void>
  /** Gossips bytes on the modules topic as they are (no envelope). */
  gossipRaw (data: Uint8Array): Promise<void>
  /** Serve these bytes under their CID, in `mode` (per requesting peer when given a function). */
  offer (bytes: Uint8Array, mode: BlobMode | ((requester: string) => BlobMode)): string
  /** Opens a raw gossipsub stream to `peer` and writes junk bytes that are no valid protobuf. */
  sendJunkRpc (peer: PeerId): Promise<void>
  announce (fields: Omit<ModuleAnnouncement, 'type' | 'author' | 'signature' | 'network' | 'createdAt'> & { createdAt?: number, network?: string }, signer?: Identity): Promise<ModuleAnnouncement>
  stop (): Promise<void>
}

export async function createAdversary (identity: Identity, network: string): Promise<Adversary> {
  const node = await createMedforgeLibp2p({ privateKey: identity.privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], maxMessageBytes: 1 << 22 })
  const topic = topics(network).modules
  const offered = new Map<string, { bytes: Uint8Array, mode: BlobMode | ((requester: string) => BlobMode) }>()
  await node.handle(BLOB_PROTOCOL, async (stream: Stream, connection) => {
    try {
      const req = decodeBlobRequest((await lpStream(stream, { maxDataLength: 1024 }).read()).subarray())
      const o = offered.get(req.cid)
      if (o === undefined) {
        stream.send(encodeBlobResponseHeader({ status: 'not_found', size: 0, message: '' }))
        await stream.close()
        return
      }
      const mode = typeof o.mode === 'function' ? o.mode(connection.remotePeer.toString()) : o.mode
      switch (mode) {
        case 'honest':
          stream.send(encodeBlobResponseHeader({ status: 'ok', size: o.bytes.length, message: '' }))
          stream.send(encodeFrame(o.bytes))
          await stream.close()
          return
        case 'garbage':
          stream.send(encodeBlobResponseHeader({ status: 'ok', size: o.bytes.length, message: '' }))
          stream.send(encodeFrame(randomBytes(o.bytes.length)))
          await stream.close()
          return
        case 'oversized':
          stream.send(encodeBlobResponseHeader({ status: 'ok', size: 1 << 30, message: '' }))
          stream.send(encodeFrame(randomBytes(1024)))
          await stream.close()
          return
        case 'stall':
          stream.send(encodeBlobResponseHeader({ status: 'ok', size: o.bytes.length, message: '' }))
          await new Promise(() => {}) // never another byte
          return
        case 'disconnect':
          stream.send(encodeBlobResponseHeader({ status: 'ok', size: o.bytes.length, message: '' }))
          stream.send(encodeFrame(o.bytes.subarray(0, o.bytes.length >> 1)))
          await new Promise(r => setTimeout(r, 50))
          stream.abort(new Error('hostile peer hangs up midway'))
      }
    } catch {
      stream.abort(new Error('hostile blob handler failed'))
    }
  }, { maxInboundStreams: 64 })
  node.services.pubsub.subscribe(topic)
  return {
    node,
    peerId: identity.peerId,
    async connect (addr) { await node.dial(multiaddr(addr)) },
    async waitForMesh () {
      const deadline = Date.now() + 15_000
      while (node.services.pubsub.getSubscribers(topic).length === 0 && Date.now() < deadline) await new Promise(r => setTimeout(r, 100))
      await new Promise(r => setTimeout(r, 1200))
    },
    async gossip (record, blobs = []) { await node.services.pubsub.publish(topic, encodeGossipEnvelope({ record, blobs })) },
    async gossipRaw (data) { await node.services.pubsub.publish(topic, data) },
    offer (bytes, mode) {
      const cid = cidOfBytes(bytes)
      offered.set(cid, { bytes, mode })
      return cid
    },
    async sendJunkRpc (peer) {
      const stream = await node.dialProtocol(peer, node.services.pubsub.protocols)
      stream.send(randomBytes(4096))
      await stream.close().catch(() => {})
    },
    async announce (fields, signer = identity) {
      const { createdAt, network: net, ...rest } = fields
      return await signRecord<ModuleAnnouncement>({ type: 'module-announcement', network: net ?? network, createdAt: createdAt ?? Date.now(), ...rest }, signer)
    },
    async stop () { await node.stop() }
  }
}
