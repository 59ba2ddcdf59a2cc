// The daemon's libp2p host: TCP + Noise + Yamux, identify, ping and gossipsub. Gossip messages are
// unsigned at the transport (StrictNoSign): every MedForge record carries its author's signature,
// so a second transport signature would only cost bytes; message ids are the SHA-256 of the data,
// so the same record relayed by any peer is one message.
import { createHash } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { bootstrap } from '@libp2p/bootstrap'
import { gossipsub } from '@libp2p/gossipsub'
import type { GossipSub, PublishResult } from '@libp2p/gossipsub'
import type { PublishOpts } from '@libp2p/gossipsub/types'
import { createTopicScoreParams } from '@libp2p/gossipsub/score'
import { identify } from '@libp2p/identify'
import type { Identify } from '@libp2p/identify'
import type { ConnectionGater, Ed25519PrivateKey, Libp2p, Startable } from '@libp2p/interface'
import { blobService } from './blob-exchange.ts'
import type { BlobServiceInit } from './blob-exchange.ts'
import { syncService } from './sync-exchange.ts'
import type { SyncServiceInit } from './sync-exchange.ts'
import { mdns } from '@libp2p/mdns'
import { ping } from '@libp2p/ping'
import type { Ping } from '@libp2p/ping'
import { tcpOneWritePerFrame } from './one-write-per-frame.ts'
import { livenessMonitor } from './liveness-monitor.ts'
import type { LivenessMonitor } from './liveness-monitor.ts'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import type { Registry } from 'prom-client'
import { createLibp2p } from 'libp2p'
import { maxEnvelopeBytes } from '@medforge/protocol'

/**
 * The gossipsub service as its implementation defines it: the package's exported interface leaves
 * out the per-message publish options and the mesh, both public methods of the class it returns.
 */
export type MedforgeGossipSub = GossipSub & {
  publish (topic: string, data: Uint8Array, opts?: PublishOpts): Promise<PublishResult>
  getMeshPeers (topic: string): string[]
}

/** gossipsub's factory, typed as the service it returns. */
const medforgeGossipsub = (init: Parameters<typeof gossipsub>[0]): ((components: Parameters<ReturnType<typeof gossipsub>>[0]) => MedforgeGossipSub) =>
  gossipsub(init) as (components: Parameters<ReturnType<typeof gossipsub>>[0]) => MedforgeGossipSub

export type P2PServices = {
  readonly pubsub: MedforgeGossipSub
  readonly identify: Identify
  readonly ping: Ping
  readonly liveness: LivenessMonitor
  /** The blob and sync servers (present when the options ask for them). */
  readonly blobs?: Startable
  readonly sync?: Startable
}

export type MedforgeLibp2p = Libp2p<P2PServices>

export interface Libp2pOptions {
  readonly privateKey: Ed25519PrivateKey
  readonly listen: readonly string[]
  readonly bootstrap?: readonly string[]
  readonly mdns?: boolean
  /** Gossip topics this node scores (invalid messages there lower the sender's score). */
  readonly scoredTopics?: readonly string[]
  /** Largest record accepted from the wire (a gossip envelope adds its attached blobs), before any decoding. */
  readonly maxMessageBytes: number
  readonly connectionGater?: ConnectionGater
  /** Application-specific gossipsub score of a peer (penalties for misbehaviour outside gossip). */
  readonly appScore?: (peerId: string) => number
  /** Registry for libp2p's own Prometheus metrics (and the process defaults). */
  readonly metricsRegistry?: Registry
  /** Serve the blob protocol from this store. */
  readonly blobs?: BlobServiceInit
  /** Serve the sync protocol from this ledger. */
  readonly sync?: SyncServiceInit
}

/** Loopback peers share one IP by construction (testnets); a remote attacker cannot use it. */
const LOOPBACK = new Set(['127.0.0.1', '::1'])

/**
 * Liveness pings. libp2p's defaults (every 10 s, aborting the connection when one takes over 5 s,
 * or when the previous one is still in flight) cut healthy connections whenever the event loop
 * is busy for a few seconds: 50 daemons on 2 cores aborted ~1,500 connections while starting,
 * each redialled with a Noise handshake, identify, fresh gossip meshes and a sync. Every 60 s
 * (not 30), over one stream per connection: 50 daemons pinging 49 peers was part of an idle
 * network's load (BENCHMARKS, issue 16 parts 9 and 14). A hung peer is found within 85 s (a
 * crashed one at once, by TCP); a slow one is no longer disconnected. libp2p's own monitor is off:
 * it pings all of a node's connections in one instant (liveness-monitor.ts).
 */
const LIVENESS = { intervalMs: 60_000, timeoutMs: 25_000 }

/**
 * A thinner gossip mesh than gossipsub's defaults (D 6, Dlo 4, Dhi 12, Dlazy 6, gossip to a quarter
 * of the other peers each heartbeat). Every delivery of a message is a decryption, a frame and a
 * duplicate check at the receiver, and a publication brings one attestation from every member.
 * With this mesh and attestations sent to the mesh only (MESH_ONLY), 50 daemons on 2 cores spent
 * 11-35% less CPU per publication than with the defaults, p95 2.1-2.8 s against 2.9-5.0 s
 * (interleaved runs, BENCHMARKS issue 16 part 11). Each message still travels 3-6 mesh links per
 * node, IHAVE gossip to at least 4 more peers a heartbeat repairs what a mesh peer drops, and sync
 * catches the rest; gossip-mesh.test.ts checks delivery past black holes.
 * Dscore and Dout keep the gossipsub v1.1 rules (Dout < Dlo, Dout <= D / 2).
 */
const GOSSIP_MESH = { D: 4, Dlo: 3, Dhi: 6, Dlazy: 4, Dscore: 2, Dout: 2, gossipFactor: 0.1 }

/**
 * Publish options for a message sent to the mesh only, not to every subscribed peer (gossipsub's
 * flood publishing): attestations, one per member per publication, whose author is one member among
 * many. Announcements, revocations and revisions are still flooded (one hop to everyone, and no
 * mesh peer can withhold them).
 */
export const MESH_ONLY = { floodPublish: false } as const

export async function createMedforgeLibp2p (options: Libp2pOptions): Promise<MedforgeLibp2p> {
  const peerDiscovery: Array<ReturnType<typeof bootstrap> | ReturnType<typeof mdns>> = []
  if (options.bootstrap !== undefined && options.bootstrap.length > 0) peerDiscovery.push(bootstrap({ list: [...options.bootstrap], timeout: 100 }))
  if (options.mdns === true) peerDiscovery.push(mdns({ interval: 2000 }))
  const topics = Object.fromEntries((options.scoredTopics ?? []).map(t => [t, createTopicScoreParams({
    topicWeight: 1,
    // A provably invalid message (bad signature, non-member) costs a lot and decays slowly.
    invalidMessageDeliveriesWeight: -100,
    invalidMessageDeliveriesDecay: 0.9,
    firstMessageDeliveriesWeight: 1,
    firstMessageDeliveriesDecay: 0.9,
    firstMessageDeliveriesCap: 20,
    timeInMeshWeight: 0.01,
    timeInMeshQuantum: 1000,
    timeInMeshCap: 300,
    // Modules are rare: never punish a quiet mesh peer for delivering little.
    meshMessageDeliveriesWeight: 0,
    meshFailurePenaltyWeight: 0
  })]))
  return await createLibp2p({
    privateKey: options.privateKey,
    addresses: { listen: [...options.listen] },
    transports: [tcpOneWritePerFrame()],
    connectionEncrypters: [noise()],
    // A 4 MiB initial stream window (the spec's floor is 256 KiB): blob transfers are otherwise
    // bounded by window updates, one round of the event loop per 256 KiB.
    streamMuxers: [yamux({ streamOptions: { initialStreamWindowSize: 4 * 1024 * 1024, maxStreamWindowSize: 16 * 1024 * 1024 } })],
    ...(options.connectionGater === undefined ? {} : { connectionGater: options.connectionGater }),
    ...(options.metricsRegistry === undefined ? {} : { metrics: prometheusMetrics({ registry: options.metricsRegistry }) }),
    peerDiscovery,
    // Loopback peers (testnets, several daemons on one host) are exempt from the per-host inbound
    // rate limit, which would otherwise refuse all but five daemons starting in the same second.
    connectionManager: { allow: ['/ip4/127.0.0.1', '/ip6/::1'] },
    connectionMonitor: { enabled: false },
    services: {
      identify: identify(),
      ping: ping(),
      liveness: livenessMonitor(LIVENESS),
      ...(options.blobs === undefined ? {} : { blobs: blobService(options.blobs) }),
      ...(options.sync === undefined ? {} : { sync: syncService(options.sync) }),
      pubsub: medforgeGossipsub({
        globalSignaturePolicy: 'StrictNoSign',
        ...GOSSIP_MESH,
        msgIdFn: msg => createHash('sha256').update(msg.data).digest(),
        allowPublishToZeroTopicPeers: true,
        ignoreDuplicatePublishError: true,
        asyncValidation: false,
        emitSelf: false,
        // One RPC may carry several messages (an answer to IWANT batches them); each message is
        // bounded again by the topic's validator before anything is decoded.
        maxInboundDataLength: 4 * maxEnvelopeBytes(options.maxMessageBytes),
        scoreParams: {
          topics,
          IPColocationFactorWhitelist: LOOPBACK,
          ...(options.appScore === undefined ? {} : { appSpecificScore: options.appScore, appSpecificWeight: 1 }),
          behaviourPenaltyWeight: -10
        },
        scoreThresholds: { gossipThreshold: -10, publishThreshold: -50, graylistThreshold: -80 }
      })
    }
  })
}
