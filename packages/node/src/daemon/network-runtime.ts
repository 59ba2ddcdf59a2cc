// Everything the daemon does for one joined network: validate gossip and synced records, admit
// modules, fetch and verify their blobs, schedule merges and attest the resulting state root.
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import { ENGINE_VERSION, decodeModuleFile, headCid, moduleCid } from '@medforge/merge-core'
import type { MergeInput, MergeResult } from '@medforge/merge-core'
import {
  HashMismatchError, TooLargeError, decodeRecord, encodeRecord, recordCid, signRecord, validateModuleAnnouncement, validateRevocation, validateStateAttestation
} from '@medforge/protocol'
import type { Identity, ModuleAnnouncement, SignedRecord, StateAttestation, ValidationCode, ValidationResult } from '@medforge/protocol'
import { BlobStoreWriteError, InvalidModuleError } from '../errors.ts'
import { fetchBlob } from '../p2p/blob-exchange.ts'
import type { MedforgeLibp2p } from '../p2p/create-libp2p.ts'
import type { BlobStore } from '../store/blob-store.ts'
import type { Ledger, ModuleRow } from '../store/ledger.ts'
import type { DaemonEvents } from './events.ts'
import { createMergeScheduler } from './merge-scheduler.ts'
import type { MergeScheduler } from './merge-scheduler.ts'
import { checkFitsNetwork, createInputLoader, verifyModule } from './module-verifier.ts'
import { distilledSetMetrics } from './composite-metrics.ts'
import { modulesHash, validationContext } from './network-state.ts'
import type { NetworkState } from './network-state.ts'
import { applyAnnouncement, applyAttestation, applyEquivocation, applyRevocation } from './record-effects.ts'
import type { PeerPenalties } from './peer-penalties.ts'
import { createRateLimiter } from '../p2p/rate-limiter.ts'

export type RecordSource = 'gossip' | 'sync' | 'local'

export interface NetworkRuntimeComponents {
  readonly libp2p: MedforgeLibp2p
  readonly ledger: Ledger
  readonly blobs: BlobStore
  readonly identity: Identity
  readonly events: DaemonEvents
  readonly state: NetworkState
  readonly penalties: PeerPenalties
  readonly log: (line: string) => void
  readonly options?: NetworkRuntimeOptions
}

export interface NetworkRuntimeOptions {
  /** Per blob, per peer. */
  readonly fetchTimeoutMs?: number
  /** Gossip older than this is a replay (rejected as stale); default one hour. */
  readonly maxGossipAgeMs?: number
  /** Gossip messages per second each peer may send before being throttled (burst: 10 s worth). */
  readonly peerMessagesPerSecond?: number
  /** Announcements per minute one author may make (after its signature verifies). */
  readonly authorAnnouncementsPerMinute?: number
}

export interface PublishRequest {
  readonly task: string
  readonly moduleFile: Uint8Array
  readonly distilledFile: Uint8Array
  readonly samples: number
  readonly metrics?: Record<string, number>
}

const MAX_PENDING = 1024
const MAX_FETCH_QUEUE = 10_000
const FETCH_CONCURRENCY = 4

/** Penalty points fed into the application score (gossipsub graylists at -80). */
const PENALTY = { throttled: 2, hashMismatch: 50, tooLarge: 50, invalidModule: 30, fetchFailed: 2 } as const

export interface NetworkRuntime {
  readonly state: NetworkState
  /**
   * Replaces the network state after a verified manifest revision: validation sees new members and
   * revocations at once; the merge policy and the input checks keep the state they started with
   * until the daemon restarts.
   */
  updateState (next: NetworkState): void
  readonly scheduler: MergeScheduler
  start (): Promise<void>
  stop (): Promise<void>
  handleRecord (bytes: Uint8Array, source: RecordSource, from?: PeerId): Promise<ValidationResult<SignedRecord>>
  publish (request: PublishRequest): Promise<ModuleAnnouncement>
  /** The latest state: root and height (genesis before any merge). */
  head (): { stateRoot: string, height: number, moduleCount: number }
  /** Fetches every module still missing blobs (also run on a timer). */
  fetchMissing (): void
  loadInputs (): MergeInput[]
}

/** A clear message for a failed ledger write (SQLite says "database or disk is full"). */
function storageErrorMessage (err: unknown): string {
  const message = (err as Error).message
  return /disk is full|SQLITE_FULL|ENOSPC/i.test(message) ? `ledger write failed: the disk is full (${message})` : `ledger write failed: ${message}`
}

export function createNetworkRuntime (components: NetworkRuntimeComponents): NetworkRuntime {
  const { libp2p, ledger, blobs, identity, events, penalties, log } = components
  let state = components.state
  const options = components.options ?? {}
  const fetchTimeoutMs = options.fetchTimeoutMs ?? 30_000
  const peerLimiter = createRateLimiter({ ratePerSecond: options.peerMessagesPerSecond ?? 50, burst: 10 * (options.peerMessagesPerSecond ?? 50) })
  const authorLimiter = createRateLimiter({ ratePerSecond: (options.authorAnnouncementsPerMinute ?? 30) / 60, burst: options.authorAnnouncementsPerMinute ?? 30 })
  const network = state.network
  const pubsub = libp2p.services.pubsub
  /** Announcements whose parent root is not known yet, by parent root (bounded). */
  const pending = new Map<string, Array<{ bytes: Uint8Array, source: RecordSource, from?: PeerId }>>()
  let pendingCount = 0
  const fetching = new Set<string>()
  const retries = new Map<string, number>()
  const fetchQueue: string[] = []
  /** Where each module was first heard from: the first peer to ask for its blobs. */
  const heardFrom = new Map<string, PeerId>()
  let timer: NodeJS.Timeout | undefined
  let stopped = false

  ledger.addRoot(network, state.genesisRoot, 0)

  const count = (code: ValidationCode, detail: string, source: RecordSource, from?: PeerId, verdict: 'reject' | 'ignore' = 'reject'): void => {
    if (code === 'ok') return
    try {
      ledger.countRefusal(network, code)
    } catch { /* the ledger may be unwritable (full disk); the metric below still counts it */ }
    events.emit('refusal', { network, code, verdict, detail, source, from: from?.toString() })
  }

  function lookups (source: RecordSource) {
    return {
      isKnownRecord: (cid: string) => ledger.hasRecord(cid),
      rootHeight: (root: string) => ledger.rootHeight(network, root),
      equivocates: (r: ModuleAnnouncement) => ledger.announcedModules(network, r.author, r.task, r.parentRoot).some(m => m !== r.module),
      ...(source === 'gossip' ? { maxAgeMs: options.maxGossipAgeMs ?? 3_600_000 } : {})
    }
  }

  async function validate (bytes: Uint8Array, source: RecordSource): Promise<ValidationResult<SignedRecord>> {
    const ctx = validationContext(state, lookups(source))
    const first = await validateModuleAnnouncement(bytes, ctx)
    if (first.code !== 'unknown_type') return first
    let type: string | undefined
    try { type = decodeRecord(bytes).type } catch { return first }
    if (type === 'revocation') return await validateRevocation(bytes, ctx)
    if (type === 'state-attestation') return await validateStateAttestation(bytes, ctx)
    return first
  }

  async function handleRecord (bytes: Uint8Array, source: RecordSource, from?: PeerId): Promise<ValidationResult<SignedRecord>> {
    let result = await validate(bytes, source)
    // A valid announcement still counts against its author's rate (a member flooding the network).
    if (result.verdict === 'accept' && result.record?.type === 'module-announcement' && source !== 'local' && !authorLimiter.take(result.record.author)) {
      result = { verdict: 'ignore', code: 'rate_limited', detail: `${result.record.author} announces faster than ${options.authorAnnouncementsPerMinute ?? 30} modules a minute`, record: result.record }
    }
    if (result.code === 'equivocation' && result.record?.type === 'module-announcement') {
      // Keep the evidence (sync spreads it, so every peer withdraws the same modules) and withdraw.
      const r = result.record
      const withdrawn = ledger.transaction(() => {
        ledger.addRecord({ cid: recordCid(r), network, type: r.type, author: r.author, bytes })
        return applyEquivocation(ledger, r)
      })
      for (const m of withdrawn) inputs.forget(m)
      if (withdrawn.length > 0) { log(`equivocation by ${r.author.slice(-8)}: withdrew ${withdrawn.length} module(s)`); void scheduler.schedule() }
    }
    if (result.verdict !== 'accept') {
      if (result.code === 'parent_unknown' && result.record?.type === 'module-announcement') {
        const parent = result.record.parentRoot
        if (pendingCount < MAX_PENDING) {
          const list = pending.get(parent) ?? []
          list.push({ bytes, source, ...(from === undefined ? {} : { from }) })
          pending.set(parent, list)
          pendingCount++
        } else {
          count('parent_unknown', 'pending pool full', source, from)
        }
      } else if (result.code !== 'duplicate' || source === 'gossip') {
        // Gossip's own seen-cache drops ordinary duplicates, so one that reaches here is a replay.
        count(result.code, result.detail ?? '', source, from, result.verdict === 'ignore' ? 'ignore' : 'reject')
      }
      return result
    }
    const record = result.record!
    const cid = recordCid(record)
    let added: boolean
    try {
      added = ledger.transaction(() => {
        if (!ledger.addRecord({ cid, network, type: record.type, author: 'author' in record ? record.author : record.moduleAuthor, bytes })) return false
        if (record.type === 'module-announcement') applyAnnouncement(ledger, record)
        return true
      })
    } catch (err) {
      // Nothing was stored, so the record is not "known": sync delivers it again once writes work.
      const message = storageErrorMessage(err)
      events.emit('storage-error', { network, what: `${record.type} ${cid}`, error: message })
      log(`cannot store ${record.type} ${cid}: ${message}`)
      count('storage_full', message, source, from, 'ignore')
      return { verdict: 'ignore', code: 'storage_full', detail: message, record }
    }
    if (!added) return { verdict: 'ignore', code: 'duplicate', detail: 'already seen', record }
    events.emit('record', { network, type: record.type, cid, source, from: from?.toString() })
    switch (record.type) {
      case 'module-announcement':
        if (from !== undefined && !heardFrom.has(record.module)) heardFrom.set(record.module, from)
        log(`module ${record.module.slice(-12)} (${record.task}, height ${record.height}) from ${record.author.slice(-8)} via ${source}`)
        enqueueFetch(record.module)
        break
      case 'state-attestation':
        if (applyAttestation(ledger, record)) releasePending(record.stateRoot)
        events.emit('attestation', { network, author: record.author, stateRoot: record.stateRoot, height: record.height })
        break
      case 'revocation':
        if (applyRevocation(ledger, record)) { inputs.forget(record.module); void scheduler.schedule() }
        break
    }
    return result
  }

  function releasePending (root: string): void {
    const waiting = pending.get(root)
    if (waiting === undefined) return
    pending.delete(root)
    pendingCount -= waiting.length
    for (const w of waiting) void handleRecord(w.bytes, w.source, w.from)
  }

  function enqueueFetch (cid: string): void {
    if (fetching.has(cid) || fetchQueue.includes(cid) || fetchQueue.length >= MAX_FETCH_QUEUE) return
    fetchQueue.push(cid)
    pumpFetches()
  }

  function pumpFetches (): void {
    while (!stopped && fetching.size < FETCH_CONCURRENCY && fetchQueue.length > 0) {
      const cid = fetchQueue.shift()!
      fetching.add(cid)
      void fetchModule(cid).finally(() => { fetching.delete(cid); pumpFetches() })
    }
  }

  /** Peers to ask for a module's blobs: where we heard it, then its author, then everyone connected. */
  function candidates (row: ModuleRow): PeerId[] {
    const out: PeerId[] = []
    const seen = new Set<string>()
    const add = (p: PeerId | undefined): void => { if (p !== undefined && !seen.has(p.toString()) && !p.equals(libp2p.peerId)) { seen.add(p.toString()); out.push(p) } }
    add(heardFrom.get(row.cid))
    for (const c of libp2p.getConnections()) if (c.remotePeer.toString() === row.author) add(c.remotePeer)
    for (const c of libp2p.getConnections()) add(c.remotePeer)
    return out
  }

  async function getBlob (cid: string, row: ModuleRow): Promise<Uint8Array | undefined> {
    const local = blobs.get(cid)
    if (local !== undefined) return local
    for (const peer of candidates(row)) {
      if (stopped) return undefined
      try {
        const t0 = performance.now()
        const data = await fetchBlob(libp2p, peer, cid, { maxBytes: state.manifest.limits.maxModuleBytes, signal: AbortSignal.timeout(fetchTimeoutMs) })
        blobs.put(data)
        events.emit('fetch', { network, cid, bytes: data.length, peer: peer.toString(), ms: performance.now() - t0 })
        return data
      } catch (err) {
        if (err instanceof BlobStoreWriteError) {
          // Disk full (or a store budget used up): keep serving, retry when space returns.
          events.emit('fetch-failed', { network, cid, peer: peer.toString(), error: err.message })
          log(err.message)
          return undefined
        }
        if (err instanceof HashMismatchError) {
          count('hash_mismatch', `blob ${cid} from ${peer}: ${err.message}`, 'gossip', peer)
          penalties.penalize(peer.toString(), PENALTY.hashMismatch)
        } else if (err instanceof TooLargeError) {
          count('too_large', `blob ${cid} from ${peer}: ${err.message}`, 'gossip', peer)
          penalties.penalize(peer.toString(), PENALTY.tooLarge)
        } else {
          penalties.penalize(peer.toString(), PENALTY.fetchFailed)
        }
        events.emit('fetch-failed', { network, cid, peer: peer.toString(), error: (err as Error).message })
      }
    }
    return undefined
  }

  async function fetchModule (cid: string): Promise<void> {
    const row = ledger.getModule(network, cid)
    if (row?.status !== 'fetching') return
    const moduleBytes = await getBlob(row.moduleBlob, row)
    const distilledBytes = moduleBytes === undefined ? undefined : await getBlob(row.distilled, row)
    if (moduleBytes === undefined || distilledBytes === undefined) {
      // Often the peers simply have not finished fetching it themselves: retry soon, backing off
      // (200 ms doubling to 5 s); the 3 s sweep stays as a safety net.
      const attempt = (retries.get(cid) ?? 0) + 1
      retries.set(cid, attempt)
      if (!stopped) setTimeout(() => enqueueFetch(cid), Math.min(5000, 200 * 2 ** (attempt - 1))).unref()
      return
    }
    retries.delete(cid)
    const verdict = verifyModule(state, row, moduleBytes, distilledBytes)
    if (verdict instanceof InvalidModuleError) {
      if (ledger.getModule(network, cid)?.status !== 'fetching') return
      ledger.setModuleStatus(network, cid, 'invalid', verdict.message)
      count(verdict.reason, verdict.message, 'gossip')
      penalties.penalize(row.author, PENALTY.invalidModule)
      events.emit('module-invalid', { network, cid, reason: verdict.reason, detail: verdict.message })
      log(`module ${cid.slice(-12)} refused: ${verdict.message}`)
      return
    }
    if (!ledger.markReady(network, cid, moduleBytes.length + distilledBytes.length)) return
    events.emit('module-ready', { network, cid })
    void scheduler.schedule()
  }

  const inputs = createInputLoader(state, ledger, blobs)

  async function onMerged (result: MergeResult, timing: { startedAt: number, finishedAt: number, resumedFrom: number }): Promise<void> {
    const height = result.inputs.reduce((h, i) => Math.max(h, i.height), 0)
    const cids = result.inputs.map(i => i.cid)
    let metrics: Record<string, unknown> = {}
    try {
      metrics = await distilledSetMetrics(result, state.model.evaluator())
    } catch (err) {
      log(`composite metrics failed: ${(err as Error).message}`)
    }
    ledger.addMerge({
      network,
      stateRoot: result.stateRoot,
      moduleCount: cids.length,
      height,
      method: result.method.name,
      modules: cids,
      details: { steps: result.steps ?? null, weights: result.weights ?? null, resumedFrom: timing.resumedFrom, metrics },
      startedAt: timing.startedAt,
      finishedAt: timing.finishedAt
    })
    if (ledger.addRoot(network, result.stateRoot, height)) releasePending(result.stateRoot)
    log(`merged ${cids.length} module(s) with ${result.method.name} in ${timing.finishedAt - timing.startedAt} ms → ${result.stateRoot}`)
    events.emit('merge', { network, stateRoot: result.stateRoot, moduleCount: cids.length, height, ms: timing.finishedAt - timing.startedAt, method: result.method.name })
    const attestation = await signRecord<StateAttestation>({
      type: 'state-attestation',
      network,
      height,
      modulesHash: modulesHash(cids),
      moduleCount: cids.length,
      stateRoot: result.stateRoot,
      engine: ENGINE_VERSION,
      createdAt: Date.now()
    }, identity)
    const bytes = encodeRecord(attestation)
    await handleRecord(bytes, 'local')
    if (!stopped) await pubsub.publish(state.topics.state, bytes).catch(err => log(`attestation not gossiped: ${(err as Error).message}`))
  }

  const scheduler = createMergeScheduler({
    ledger,
    blobs,
    network: state,
    loadInputs: inputs.load,
    onMerged,
    onError: err => log(`merge failed: ${err.message}`)
  })

  function head (): { stateRoot: string, height: number, moduleCount: number } {
    const current = scheduler.current
    if (current !== undefined) return { stateRoot: current.stateRoot, height: current.inputs.reduce((h, i) => Math.max(h, i.height), 0), moduleCount: current.inputs.length }
    const last = ledger.latestMerge(network)
    if (last !== undefined) return { stateRoot: last.stateRoot, height: last.height, moduleCount: last.moduleCount }
    return { stateRoot: state.genesisRoot, height: 0, moduleCount: 0 }
  }

  async function publish (request: PublishRequest): Promise<ModuleAnnouncement> {
    const task = state.tasks.get(request.task)
    if (task === undefined) throw new InvalidModuleError('publish', `task "${request.task}" is not one of the network's tasks (${[...state.tasks.keys()].join(', ')})`, 'unknown_task')
    const member = state.members.get(identity.peerId)
    if (member === undefined || state.revoked.has(identity.peerId) || !member.roles.includes('contributor')) {
      throw new InvalidModuleError('publish', `this institution (${identity.peerId}) is not a contributor of network ${network}`, 'malformed')
    }
    const size = request.moduleFile.length + request.distilledFile.length
    if (size > state.manifest.limits.maxModuleBytes) throw new InvalidModuleError('publish', `module and distilled set are ${size} bytes, the network's limit is ${state.manifest.limits.maxModuleBytes}`, 'too_large')
    const module = decodeModuleFile(request.moduleFile, 'published module')
    checkFitsNetwork(state, module, task, request.distilledFile, 'published module', 'published distilled set')
    const moduleBlob = blobs.put(request.moduleFile)
    const distilled = blobs.put(request.distilledFile)
    const parent = head()
    const announcement = await signRecord<ModuleAnnouncement>({
      type: 'module-announcement',
      network,
      task: request.task,
      module: moduleCid(module),
      moduleBlob,
      distilled,
      head: headCid(module) ?? null,
      parentRoot: parent.stateRoot,
      height: parent.height + 1,
      samples: request.samples,
      metrics: request.metrics ?? {},
      createdAt: Date.now()
    }, identity)
    const bytes = encodeRecord(announcement)
    const result = await handleRecord(bytes, 'local')
    if (result.verdict !== 'accept') throw new InvalidModuleError('publish', `own announcement refused: ${result.code} ${result.detail ?? ''}`, 'malformed')
    await pubsub.publish(state.topics.modules, bytes).catch(err => log(`announcement not gossiped yet (${(err as Error).message}); peers will sync it`))
    events.emit('published', { network, module: announcement.module, task: announcement.task })
    return announcement
  }

  function fetchMissing (): void {
    for (const row of ledger.modules(network, 'fetching')) enqueueFetch(row.cid)
  }

  /** Gossip's three-way verdict is the validator's: reject penalises the peer that sent it. */
  async function gossipValidator (peer: PeerId, msg: { data: Uint8Array }): Promise<TopicValidatorResult> {
    // The cheapest check of all, before any decoding: is this peer flooding?
    if (!peerLimiter.take(peer.toString())) {
      count('rate_limited', `${peer} sends more than ${options.peerMessagesPerSecond ?? 50} messages a second`, 'gossip', peer, 'ignore')
      penalties.penalize(peer.toString(), PENALTY.throttled)
      return TopicValidatorResult.Ignore
    }
    const result = await handleRecord(msg.data, 'gossip', peer)
    return result.verdict === 'accept' ? TopicValidatorResult.Accept : result.verdict === 'reject' ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore
  }

  return {
    get state () { return state },
    updateState (next) { state = next },
    scheduler,
    head,
    handleRecord,
    publish,
    fetchMissing,
    loadInputs: inputs.load,
    async start () {
      pubsub.topicValidators.set(state.topics.modules, gossipValidator)
      pubsub.topicValidators.set(state.topics.state, gossipValidator)
      pubsub.subscribe(state.topics.modules)
      pubsub.subscribe(state.topics.state)
      fetchMissing()
      void scheduler.schedule()
      timer = setInterval(fetchMissing, 3000)
      timer.unref()
    },
    async stop () {
      stopped = true
      clearInterval(timer)
      pubsub.topicValidators.delete(state.topics.modules)
      pubsub.topicValidators.delete(state.topics.state)
      await scheduler.stop()
    }
  }
}
