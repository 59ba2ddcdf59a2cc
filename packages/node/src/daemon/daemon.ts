// The institution daemon: one libp2p host, one ledger and blob store, one runtime per joined
// network, and the HTTP API. `createDaemon` returns it stopped; `start` joins the networks.
import type { Connection, PeerId } from '@libp2p/interface'
import { SYNC_PROTOCOL } from '@medforge/protocol'
import { createHttpApi } from '../api/http-api.ts'
import type { HttpApi } from '../api/http-api.ts'
import type { ApiDaemon, PeerInfo } from '../api/api-daemon.ts'
import { createMedforgeLibp2p } from '../p2p/create-libp2p.ts'
import type { MedforgeLibp2p } from '../p2p/create-libp2p.ts'
import { createPeerExchange } from '../p2p/peer-exchange.ts'
import type { PeerExchange } from '../p2p/peer-exchange.ts'
import { syncFrom } from '../p2p/sync-exchange.ts'
import { createBlobStore } from '../store/blob-store.ts'
import type { BlobStore } from '../store/blob-store.ts'
import { DEFAULT_SYNC_PEERS_PER_TICK } from '../constants.ts'
import { DataDir } from '../store/data-dir.ts'
import type { DaemonConfig } from '../store/data-dir.ts'
import { Ledger } from '../store/ledger.ts'
import { createDaemonEvents } from './events.ts'
import type { DaemonEvents } from './events.ts'
import { createNetworkRuntime } from './network-runtime.ts'
import type { NetworkRuntime, NetworkRuntimeOptions } from './network-runtime.ts'
import { createPeerPenalties } from './peer-penalties.ts'
import { loadNetworkState } from './network-state.ts'
import { ManifestVerificationError, manifestCid, peerAdvertTopic } from '@medforge/protocol'
import type { SignedManifest } from '@medforge/protocol'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { NotJoinedError } from '../errors.ts'
import { createComputeWorkers } from '../compute/compute-workers.ts'
import type { ComputeWorkersInit } from '../compute/compute-workers.ts'
import { createDaemonMetrics, createRegistry } from './metrics.ts'
import { agreementOf } from './agreement.ts'
import type { DaemonMetrics } from './metrics.ts'

export interface DaemonOptions {
  readonly dataDir: string
  readonly listen?: readonly string[]
  readonly api?: string
  /** Host names the API answers to besides IP literals and localhost (a proxy's name). */
  readonly apiHosts?: readonly string[]
  readonly bootstrap?: readonly string[]
  readonly membersOnly?: boolean
  readonly mdns?: boolean
  readonly log?: (line: string) => void
  /** How often to re-sync with connected peers (ms). */
  readonly syncIntervalMs?: number
  /** A disk budget for the blob store (bytes). */
  readonly maxBlobBytes?: number
  readonly runtime?: NetworkRuntimeOptions
  /** Deadlines of the compute threads' jobs. */
  readonly compute?: Pick<ComputeWorkersInit, 'mergeDeadlineMs' | 'checkDeadlineMs'>
}


export type { PeerInfo } from '../api/api-daemon.ts'

export interface Daemon extends ApiDaemon {
  readonly dataDir: DataDir
  readonly config: DaemonConfig
  readonly peerId: string
  readonly name: string
  readonly libp2p: MedforgeLibp2p
  readonly ledger: Ledger
  readonly blobs: BlobStore
  readonly events: DaemonEvents
  readonly runtimes: ReadonlyMap<string, NetworkRuntime>
  readonly api: HttpApi
  readonly metrics: DaemonMetrics
  readonly startedAt: number
  peers (): PeerInfo[]
  runtime (network?: string): NetworkRuntime
  /** Pulls records from every connected peer now. */
  syncAll (): Promise<void>
  /** Refuses and drops a peer (an operator's ban; also how tests cut partitions). */
  blockPeer (peerId: string): Promise<void>
  unblockPeer (peerId: string): void
  readonly blocked: ReadonlySet<string>
  /** Applies a quorum-signed manifest revision to a running network (new members, revocations). */
  applyRevision (revision: SignedManifest): Promise<{ network: string, revision: number, revoked: string[] }>
  /** Applies a revision here and gossips it, so that every member applies it (late joiners: by sync). */
  publishRevision (revision: SignedManifest): Promise<{ network: string, revision: number, revoked: string[] }>
  stop (): Promise<void>
}

export async function startDaemon (options: DaemonOptions): Promise<Daemon> {
  const dataDir = new DataDir(options.dataDir)
  const identity = dataDir.identity()
  const config = dataDir.config()
  const log = options.log ?? (() => {})
  if (config.networks.length === 0) throw new NotJoinedError(`no network joined: run 'medforge network join MANIFEST --data-dir ${options.dataDir}' first`)
  let states = await Promise.all(config.networks.map(async n => await loadNetworkState(dataDir.loadChain(n))))
  const membersOnly = options.membersOnly ?? config.membersOnly
  const isMember = (peerId: string): boolean => states.some(s => s.members.has(peerId) && !s.revoked.has(peerId))
  /** A network's members under its current manifest (revisions replace `states`), the revoked left out. */
  const activeMembers = (network: string): string[] => {
    const s = states.find(x => x.network === network)
    return s === undefined ? [] : [...s.members.keys()].filter(m => !s.revoked.has(m))
  }
  const maxMessageBytes = Math.max(...states.map(s => s.manifest.limits.maxMessageBytes))
  const ledger = new Ledger(dataDir.ledgerPath)
  const blobs = createBlobStore(dataDir.blobDir, options.maxBlobBytes === undefined ? {} : { maxBytes: options.maxBlobBytes })
  const penalties = createPeerPenalties()
  const blocked = new Set<string>()
  const events = createDaemonEvents()
  const bootstrap = [...new Set([...(options.bootstrap ?? config.bootstrap), ...states.flatMap(s => s.manifest.bootstrap)])]
    .filter(a => !a.includes(identity.peerId))
  const gate = (peer: PeerId): boolean => blocked.has(peer.toString()) || (membersOnly && !isMember(peer.toString()))
  const registry = createRegistry()
  const libp2p = await createMedforgeLibp2p({
    metricsRegistry: registry,
    appScore: p => penalties.score(p),
    privateKey: identity.privateKey,
    listen: options.listen ?? config.listen,
    bootstrap,
    mdns: options.mdns ?? config.mdns,
    maxMessageBytes,
    scoredTopics: states.flatMap(s => [s.topics.modules, s.topics.state, peerAdvertTopic(s.network)]),
    connectionGater: {
      denyDialPeer: gate,
      denyInboundEncryptedConnection: gate
    },
    blobs: { blobs, maxBytes: Math.max(...states.map(s => s.manifest.limits.maxModuleBytes)), isAllowed: peer => !blocked.has(peer) && isMember(peer) },
    sync: { ledger, networks: () => new Set(runtimes.keys()), isAllowed: (peer, network) => !blocked.has(peer) && states.some(s => s.network === network && s.members.has(peer) && !s.revoked.has(peer)) }
  })
  const metrics = createDaemonMetrics({
    registry, events, ledger, networks: () => states.map(s => s.network), peers: () => libp2p.getPeers().length,
    agreement: network => agreementOf(ledger.attestations(network), identity.peerId, runtimes.get(network)?.head().stateRoot ?? '')
  })
  const compute = createComputeWorkers({ blobDir: dataDir.blobDir, log, ...options.compute })
  const runtimes = new Map<string, NetworkRuntime>()
  for (const state of states) runtimes.set(state.network, createNetworkRuntime({ libp2p, ledger, blobs, compute, identity, events, state, penalties, log, onRevision: async revision => { await daemon.applyRevision(revision) }, ...(options.runtime === undefined ? {} : { options: options.runtime }) }))
  const exchanges: PeerExchange[] = states.map(s => createPeerExchange({ libp2p, network: s.network, isMember, members: () => activeMembers(s.network) }))
  /** Each connected peer's listen addresses, from its identify message (bounded by the connections). */
  const listenAddrs = new Map<string, string[]>()
  const cursors = new Map<string, number>()
  const syncing = new Set<string>()

  async function syncWith (peer: PeerId): Promise<void> {
    for (const runtime of runtimes.values()) {
      const key = `${runtime.state.network}|${peer}`
      if (syncing.has(key)) continue
      syncing.add(key)
      try {
        const { cursor } = await syncFrom(libp2p, peer, {
          network: runtime.state.network,
          after: cursors.get(key) ?? 0,
          maxRecordBytes: runtime.state.manifest.limits.maxMessageBytes,
          signal: AbortSignal.timeout(30_000),
          unknown: ids => ledger.unknownRecords(ids),
          onRecords: async records => {
            for (const r of records) {
              // A record we could not store must be asked for again: stop before the cursor moves past it.
              if ((await runtime.handleRecord(r, 'sync', peer)).code === 'storage_full') throw new Error('the ledger cannot be written (disk full); will retry')
            }
          }
        })
        cursors.set(key, cursor)
      } catch (err) {
        log(`sync with ${peer.toString().slice(-8)} failed: ${(err as Error).message}`)
      } finally {
        syncing.delete(key)
      }
    }
  }

  const daemon: Daemon = {
    dataDir,
    config,
    peerId: identity.peerId,
    name: config.name,
    libp2p,
    ledger,
    blobs,
    events,
    runtimes,
    api: undefined as unknown as HttpApi,
    metrics,
    startedAt: Date.now(),
    peers () {
      const pubsub = libp2p.services.pubsub as unknown as { getScore?: (p: string) => number, getTopics: () => string[], getSubscribers: (t: string) => PeerId[] }
      const byPeer = new Map<string, Connection[]>()
      for (const c of libp2p.getConnections()) byPeer.set(c.remotePeer.toString(), [...(byPeer.get(c.remotePeer.toString()) ?? []), c])
      return [...byPeer.entries()].map(([peerId, conns]) => ({
        peerId,
        name: states.map(s => s.members.get(peerId)?.name).find(n => n !== undefined) ?? null,
        addresses: listenAddrs.get(peerId) ?? [],
        connections: conns.map(c => c.remoteAddr.toString()),
        status: conns[0]!.status,
        direction: conns[0]!.direction,
        // Measured by the liveness pings (one per connection every 60 s: p2p/liveness-monitor.ts).
        latencyMs: conns.map(c => c.rtt).find(rtt => rtt !== undefined) ?? null,
        gossipScore: pubsub.getScore?.(peerId) ?? 0,
        topics: pubsub.getTopics().filter(t => pubsub.getSubscribers(t).some(p => p.toString() === peerId))
      })).sort((a, b) => a.peerId < b.peerId ? -1 : 1)
    },
    runtime (network) {
      const r = network === undefined ? runtimes.values().next().value : runtimes.get(network)
      if (r === undefined) throw new NotJoinedError(network === undefined ? 'no network joined' : `network ${network} is not joined by this daemon`)
      return r
    },
    async syncAll () {
      await Promise.all(libp2p.getConnections().map(async c => { await syncWith(c.remotePeer) }))
    },
    blocked,
    async blockPeer (peerId) {
      blocked.add(peerId)
      await libp2p.hangUp(peerIdFromString(peerId)).catch(() => {})
    },
    unblockPeer (peerId) {
      blocked.delete(peerId)
    },
    async applyRevision (revision) {
      const network = revision.body.network
      const rt = network === null ? undefined : runtimes.get(network)
      if (rt === undefined) throw new NotJoinedError(`revision ${revision.body.revision} is for network ${network ?? '(a genesis)'}, which this daemon has not joined`)
      const chain = [...rt.state.chain]
      if (manifestCid(revision.body) === manifestCid(chain.at(-1)!.body)) return { network: rt.state.network, revision: revision.body.revision, revoked: [...rt.state.revoked] }
      const next = await loadNetworkState([...chain, revision]) // verifies signatures, quorum and the chain
      dataDir.saveChain(next.network, next.chain)
      await rt.updateState(next)
      states = states.map(s => s.network === next.network ? next : s)
      for (const peer of next.revoked) await libp2p.hangUp(peerIdFromString(peer)).catch(() => {})
      log(`network ${next.network}: revision ${next.manifest.revision} applied (${next.members.size} members, ${next.revoked.size} revoked)`)
      return { network: next.network, revision: next.manifest.revision, revoked: [...next.revoked] }
    },
    async publishRevision (revision) {
      const network = revision.body.network
      const rt = network === null ? undefined : runtimes.get(network)
      if (rt === undefined) throw new NotJoinedError(`revision ${revision.body.revision} is for network ${network ?? '(a genesis)'}, which this daemon has not joined`)
      const result = await rt.publishRevision(revision)
      if (result.verdict === 'reject' || result.code === 'parent_unknown') throw new ManifestVerificationError(`revision ${revision.body.revision} refused: ${result.detail ?? result.code}`)
      return { network: rt.state.network, revision: rt.state.manifest.revision, revoked: [...rt.state.revoked] }
    },
    async stop () {
      clearInterval(timers)
      await daemon.api.close()
      for (const e of exchanges) e.stop()
      for (const r of runtimes.values()) await r.stop()
      await compute.stop()
      await libp2p.stop()
      ledger.close()
      dataDir.clearRunning({ pid: process.pid })
      log('stopped')
    }
  }

  libp2p.addEventListener('peer:identify', evt => {
    listenAddrs.set(evt.detail.peerId.toString(), evt.detail.listenAddrs.map(a => a.toString()))
    if (evt.detail.protocols.includes(SYNC_PROTOCOL)) void syncWith(evt.detail.peerId)
  })
  libp2p.addEventListener('peer:disconnect', evt => { listenAddrs.delete(evt.detail.toString()) })
  for (const r of runtimes.values()) await r.start()
  for (const e of exchanges) e.start()
  const bootstrapAddrs = bootstrap.flatMap(a => { try { return [multiaddr(a)] } catch { return [] } })
  const timers = setInterval(() => {
    // The bootstrap module dials once; keep trying the bootstrap peers we are not connected to.
    if (libp2p.getPeers().length < 3) {
      for (const addr of bootstrapAddrs) {
        const id = addr.getComponents().find(c => c.name === 'p2p')?.value
        if (id !== undefined && libp2p.getConnections().some(c => c.remotePeer.toString() === id)) continue
        void libp2p.dial(addr, { signal: AbortSignal.timeout(5000) }).catch(() => {})
      }
    }
    // Sync is the safety net behind gossip (a full sync runs on every new connection): a random
    // peer per tick keeps the chatter flat as the network grows.
    const peers = [...new Map(libp2p.getConnections().map(c => [c.remotePeer.toString(), c.remotePeer])).values()]
    for (let i = peers.length - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); [peers[i], peers[j]] = [peers[j]!, peers[i]!] }
    for (const peer of peers.slice(0, DEFAULT_SYNC_PEERS_PER_TICK)) void syncWith(peer)
  }, options.syncIntervalMs ?? 10_000)
  timers.unref()
  const api = await createHttpApi({ daemon, listen: options.api ?? config.api, token: dataDir.apiToken(), allowedHosts: options.apiHosts ?? [] })
  ;(daemon as { api: HttpApi }).api = api
  dataDir.writeRunning({ url: api.url, pid: process.pid, peerId: identity.peerId, addresses: libp2p.getMultiaddrs().map(a => a.toString()) })
  log(`${config.name} (${identity.peerId}) listening on ${libp2p.getMultiaddrs().map(a => a.toString()).join(' ')}; API ${api.url}`)
  return daemon
}
