// Everything the daemon does for one joined network, wired from its services: the record handler
// (validation and ledger effects), the pending pool, the module fetcher, the merge scheduler (on a
// compute thread), the attester and the publisher; plus the gossip validators that feed them.
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import { MalformedError, TooLargeError, decodeGossipEnvelope, encodeRecord } from '@medforge/protocol'
import type { GossipEnvelope, Identity, ModuleAnnouncement, SignedManifest, SignedRecord, ValidationResult } from '@medforge/protocol'
import { FOLDING_METHODS } from '@medforge/merge-core'
import type { Compute } from '../compute/compute-workers.ts'
import { DEFAULT_PEER_MESSAGES_PER_SECOND, PENALTY } from '../constants.ts'
import { fetchBlob } from '../p2p/blob-exchange.ts'
import { MESH_ONLY } from '../p2p/create-libp2p.ts'
import type { MedforgeLibp2p } from '../p2p/create-libp2p.ts'
import { createRateLimiter } from '../p2p/rate-limiter.ts'
import type { BlobStore } from '../store/blob-store.ts'
import type { Ledger } from '../store/ledger.ts'
import { createAttester, summaryHeight } from './attester.ts'
import type { DaemonEvents } from './events.ts'
import { createMergeScheduler } from './merge-scheduler.ts'
import type { MergeScheduler } from './merge-scheduler.ts'
import { createModuleFetcher } from './module-fetcher.ts'
import type { ModuleFetcherInit } from './module-fetcher.ts'
import type { NetworkState } from './network-state.ts'
import { createPendingPool } from './pending-pool.ts'
import type { PendingPoolInit } from './pending-pool.ts'
import type { PeerPenalties } from './peer-penalties.ts'
import { createPublisher } from './publisher.ts'
import type { PublishRequest } from './publisher.ts'
import { createRecordHandler } from './record-handler.ts'
import type { RecordHandlerInit } from './record-handler.ts'
import { applyWaitingRevocations, dropFalseClaim } from './record-effects.ts'
import { refusalCounter } from './refusals.ts'
import type { RecordSource } from './refusals.ts'

export type { PublishRequest } from './publisher.ts'
export type { RecordSource } from './refusals.ts'

export interface NetworkRuntimeComponents {
  readonly libp2p: MedforgeLibp2p
  readonly ledger: Ledger
  readonly blobs: BlobStore
  readonly compute: Compute
  readonly identity: Identity
  readonly events: DaemonEvents
  readonly state: NetworkState
  readonly penalties: PeerPenalties
  readonly log: (line: string) => void
  /** A verified revision arrived (gossip, sync or the API): the daemon applies it to every service. */
  readonly onRevision: (revision: SignedManifest) => Promise<void>
  readonly options?: NetworkRuntimeOptions
}

export interface NetworkRuntimeOptions extends RecordHandlerInit, Pick<ModuleFetcherInit, 'fetchTimeoutMs'> {
  /** Gossip messages per second each peer may send before being throttled (burst: 10 s worth). */
  readonly peerMessagesPerSecond?: number
  readonly pending?: PendingPoolInit
}

export interface NetworkRuntime {
  readonly state: NetworkState
  /** Applies a verified manifest revision: validation, publishing and the compute threads see it at once. */
  updateState (next: NetworkState): Promise<void>
  readonly scheduler: MergeScheduler
  start (): Promise<void>
  stop (): Promise<void>
  handleRecord (bytes: Uint8Array, source: RecordSource, from?: PeerId): Promise<ValidationResult<SignedRecord>>
  publish (request: PublishRequest): Promise<ModuleAnnouncement>
  /** The latest state: root and height (genesis before any merge). */
  head (): { stateRoot: string, height: number, moduleCount: number }
  /** Fetches every module still missing blobs (also run on a timer). */
  fetchMissing (): void
  /** Announcements parked until their parent root is known. */
  readonly pendingCount: number
  /** Validates, applies and gossips a quorum-signed revision of this network's manifest. */
  publishRevision (revision: SignedManifest): Promise<ValidationResult<SignedRecord>>
}

export function createNetworkRuntime (components: NetworkRuntimeComponents): NetworkRuntime {
  const { libp2p, ledger, blobs, compute, identity, events, penalties, log } = components
  let state = components.state
  const options = components.options ?? {}
  const network = state.network
  const pubsub = libp2p.services.pubsub
  const peerRate = options.peerMessagesPerSecond ?? DEFAULT_PEER_MESSAGES_PER_SECOND
  const peerLimiter = createRateLimiter({ ratePerSecond: peerRate, burst: 10 * peerRate })
  const countRefusal = refusalCounter({ ledger, events, network })
  let stopped = false
  const gossip = (topic: () => string, options?: typeof MESH_ONLY) => async (bytes: Uint8Array): Promise<void> => { if (!stopped) await pubsub.publish(topic(), bytes, options) }

  ledger.addComputedRoot(network, state.genesisRoot, 0)

  const fetcher = createModuleFetcher({
    network,
    ledger,
    blobs,
    compute,
    events,
    penalties,
    countRefusal,
    self: libp2p.peerId,
    connectedPeers: () => [...new Map(libp2p.getConnections().map(c => [c.remotePeer.toString(), c.remotePeer])).values()],
    fetchBlob: async (peer, cid, opts) => await fetchBlob(libp2p, peer, cid, opts),
    maxModuleBytes: () => state.manifest.limits.maxModuleBytes,
    onReady: () => { void scheduler.schedule() },
    dropClaim: (row, reason) => ledger.transaction(() => dropFalseClaim(ledger, row, reason)),
    onVerified: cid => { if (ledger.transaction(() => applyWaitingRevocations(ledger, network, cid))) void scheduler.schedule() },
    log
  }, options.fetchTimeoutMs === undefined ? {} : { fetchTimeoutMs: options.fetchTimeoutMs })

  const pending = createPendingPool(options.pending)
  const records = createRecordHandler({
    state: () => state,
    ledger,
    blobs,
    events,
    countRefusal,
    pending,
    onAnnouncement: (module, from) => { fetcher.enqueue(module, from) },
    onInputsChanged: () => { void scheduler.schedule() },
    onRevision: async revision => { await components.onRevision(revision) },
    log
  }, options)

  const attester = createAttester({ network, ledger, identity, events, records, gossip: gossip(() => state.topics.state, MESH_ONLY), log })

  const scheduler = createMergeScheduler({
    ledger,
    blobs,
    compute,
    network,
    folds: () => FOLDING_METHODS.includes(state.method.name),
    empty: () => state.genesis,
    onMerged: async (summary, timing) => { await attester.attest(summary, timing) },
    onError: err => { log(`merge failed: ${err.message}`) },
    log
  })

  function head (): { stateRoot: string, height: number, moduleCount: number } {
    const current = scheduler.current
    if (current !== undefined) return { stateRoot: current.stateRoot, height: summaryHeight(current), moduleCount: current.inputs.length }
    const last = ledger.latestMerge(network)
    if (last !== undefined) return { stateRoot: last.stateRoot, height: last.height, moduleCount: last.moduleCount }
    return { stateRoot: state.genesisRoot, height: 0, moduleCount: 0 }
  }

  const publisher = createPublisher({
    state: () => state,
    identity,
    compute,
    blobs,
    head,
    announced: (task, height) => ledger.announcedModules(network, identity.peerId, task, height),
    records,
    gossip: gossip(() => state.topics.modules),
    events,
    log
  })

  /** The cheapest check of all, before any decoding: is this peer flooding? */
  function throttled (peer: PeerId): boolean {
    if (peerLimiter.take(peer.toString())) return false
    countRefusal('rate_limited', `${peer} sends more than ${peerRate} messages a second`, 'gossip', peer, 'ignore')
    penalties.penalize(peer.toString(), PENALTY.throttled)
    return true
  }

  /** Gossip's three-way verdict is the validator's: reject penalises the peer that sent it. */
  const verdictOf = (result: ValidationResult<SignedRecord>): TopicValidatorResult =>
    result.verdict === 'accept' ? TopicValidatorResult.Accept : result.verdict === 'reject' ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore

  /** The state topic carries bare records. */
  async function stateValidator (peer: PeerId, msg: { data: Uint8Array }): Promise<TopicValidatorResult> {
    if (throttled(peer)) return TopicValidatorResult.Ignore
    return verdictOf(await records.handle(msg.data, 'gossip', peer))
  }

  /** The modules topic carries envelopes: a record and the blobs it names, when they are small. */
  async function modulesValidator (peer: PeerId, msg: { data: Uint8Array }): Promise<TopicValidatorResult> {
    if (throttled(peer)) return TopicValidatorResult.Ignore
    let envelope: GossipEnvelope
    try {
      envelope = decodeGossipEnvelope(msg.data, state.manifest.limits.maxMessageBytes)
    } catch (err) {
      if (!(err instanceof MalformedError || err instanceof TooLargeError)) throw err
      countRefusal(err instanceof TooLargeError ? 'too_large' : 'malformed', err.message, 'gossip', peer)
      return TopicValidatorResult.Reject
    }
    return verdictOf(await records.handle(envelope.record, 'gossip', peer, envelope.blobs))
  }

  return {
    get state () { return state },
    async updateState (next) {
      state = next
      // Queued on each compute thread behind its current job (a merge may run for minutes): jobs
      // scheduled after this see the new chain, and the caller (an API request) does not wait.
      void compute.setNetwork(next.network, next.chain).catch(err => { log(`compute threads did not load revision ${next.manifest.revision}: ${(err as Error).message}`) })
    },
    scheduler,
    head,
    handleRecord: records.handle,
    publish: publisher.publish,
    fetchMissing: fetcher.fetchMissing,
    get pendingCount () { return pending.size },
    async publishRevision (revision) {
      const bytes = encodeRecord({ type: 'manifest-revision', network, manifest: revision })
      const result = await records.handle(bytes, 'local')
      if (result.verdict === 'accept') await gossip(() => state.topics.state)(bytes).catch(err => { log(`revision not gossiped yet (${(err as Error).message}); peers will sync it`) })
      return result
    },
    async start () {
      stopped = false
      await compute.setNetwork(network, state.chain)
      pubsub.topicValidators.set(state.topics.modules, modulesValidator)
      pubsub.topicValidators.set(state.topics.state, stateValidator)
      pubsub.subscribe(state.topics.modules)
      pubsub.subscribe(state.topics.state)
      fetcher.start()
      void scheduler.schedule()
    },
    async stop () {
      stopped = true
      fetcher.stop()
      pubsub.topicValidators.delete(state.topics.modules)
      pubsub.topicValidators.delete(state.topics.state)
      await scheduler.stop()
    }
  }
}
