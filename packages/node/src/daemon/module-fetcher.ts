// Gets the blobs of admitted modules and turns them ready: a bounded queue, a few fetches at once,
// peers asked in order (where the announcement came from, then its author, then everyone), retries
// with backoff, penalties for peers that send bad bytes, and verification on a compute thread.
// The module blob comes first and settles who the module belongs to (its file names its author,
// and the author is part of its CID): a claim by anyone else is dropped before its other blobs
// are asked for, so a false claim can neither hold another member's module nor stall it.
import type { PeerId } from '@libp2p/interface'
import { HashMismatchError, RemoteStatusError, TooLargeError } from '@medforge/protocol'
import type { VerifyOutcome } from '../compute/compute-engine.ts'
import type { Compute } from '../compute/compute-workers.ts'
import { moduleRef } from '../compute/checkpoints.ts'
import {
  DEFAULT_FETCH_CONCURRENCY, DEFAULT_FETCH_QUEUE_MAX, DEFAULT_FETCH_RETRY_MAX_MS, DEFAULT_FETCH_RETRY_MIN_MS, DEFAULT_FETCH_SWEEP_MS, DEFAULT_FETCH_TIMEOUT_MS, PENALTY
} from '../constants.ts'
import { BlobStoreWriteError } from '../errors.ts'
import type { BlobStore } from '../store/blob-store.ts'
import type { Ledger, ModuleRow } from '../store/ledger.ts'
import type { DaemonEvents } from './events.ts'
import type { PeerPenalties } from './peer-penalties.ts'
import type { CountRefusal } from './refusals.ts'

export interface ModuleFetcherComponents {
  readonly network: string
  readonly ledger: Pick<Ledger, 'getModule' | 'modules' | 'setModuleStatus' | 'markReady' | 'markVerified'>
  readonly blobs: Pick<BlobStore, 'get' | 'putVerified' | 'size'>
  readonly compute: Pick<Compute, 'verify' | 'checkClaim'>
  readonly events: Pick<DaemonEvents, 'emit'>
  readonly penalties: Pick<PeerPenalties, 'penalize'>
  readonly countRefusal: CountRefusal
  /** This node's peer id and the peers connected now. */
  readonly self: PeerId
  readonly connectedPeers: () => PeerId[]
  readonly fetchBlob: (peer: PeerId, cid: string, options: { maxBytes: number, signal: AbortSignal }) => Promise<Uint8Array>
  readonly maxModuleBytes: () => number
  readonly onReady: (cid: string) => void
  /** A claim proven false is dropped (why: `reason`); true when another announcement now claims the module. */
  readonly dropClaim: (row: ModuleRow, reason: string) => boolean
  /** The module is now known to be its recorded author's (revocations that waited for that apply). */
  readonly onVerified: (cid: string) => void
  readonly log: (line: string) => void
}

export interface ModuleFetcherInit {
  readonly fetchTimeoutMs?: number
  readonly concurrency?: number
  readonly maxQueue?: number
  readonly sweepMs?: number
}

export interface ModuleFetcher {
  /** Queues a module whose blobs are missing; `from` is the peer it was first heard from. */
  enqueue (cid: string, from?: PeerId): void
  /** Queues every admitted module still missing blobs (also run on a timer). */
  fetchMissing (): void
  start (): void
  stop (): void
}

export function createModuleFetcher (components: ModuleFetcherComponents, init: ModuleFetcherInit = {}): ModuleFetcher {
  const { network, ledger, blobs, compute, events, penalties, countRefusal, log } = components
  const fetchTimeoutMs = init.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS
  const concurrency = init.concurrency ?? DEFAULT_FETCH_CONCURRENCY
  const maxQueue = init.maxQueue ?? DEFAULT_FETCH_QUEUE_MAX
  const fetching = new Set<string>()
  /** Modules whose claim changed while they were being fetched: fetched again right after. */
  const again = new Set<string>()
  const queue: string[] = []
  const queued = new Set<string>()
  const retries = new Map<string, number>()
  /** Where each module was first heard from: the first peer to ask for its blobs. */
  const heardFrom = new Map<string, PeerId>()
  let timer: NodeJS.Timeout | undefined
  let stopped = false

  function enqueue (cid: string, from?: PeerId): void {
    if (from !== undefined && !heardFrom.has(cid)) heardFrom.set(cid, from)
    if (stopped || fetching.has(cid) || queued.has(cid) || queue.length >= maxQueue) return
    queue.push(cid)
    queued.add(cid)
    pump()
  }

  function pump (): void {
    while (!stopped && fetching.size < concurrency && queue.length > 0) {
      const cid = queue.shift()!
      queued.delete(cid)
      fetching.add(cid)
      void fetchModule(cid).catch(err => { log(`fetching module ${cid} failed: ${(err as Error).message}`) }).finally(() => {
        fetching.delete(cid)
        if (again.delete(cid)) enqueue(cid)
        pump()
      })
    }
  }

  /** Peers to ask for a module's blobs: where we heard it, then its author, then everyone connected. */
  function candidates (row: ModuleRow): PeerId[] {
    const out: PeerId[] = []
    const seen = new Set<string>()
    const add = (p: PeerId | undefined): void => { if (p !== undefined && !seen.has(p.toString()) && !p.equals(components.self)) { seen.add(p.toString()); out.push(p) } }
    const connected = components.connectedPeers()
    add(heardFrom.get(row.cid))
    add(connected.find(p => p.toString() === row.author))
    for (const p of connected) add(p)
    return out
  }

  /** Makes sure the store has the blob; its size, or undefined when no peer could give it. */
  async function getBlob (cid: string, row: ModuleRow, failed: Set<string>): Promise<number | undefined> {
    // A stored blob is hashed where it is read (the compute thread), not here on the event loop.
    const local = blobs.size(cid)
    if (local !== undefined) return local
    for (const peer of candidates(row)) {
      if (stopped) return undefined
      if (failed.has(peer.toString())) continue // it already sent bad bytes for this module
      try {
        const t0 = performance.now()
        const data = await components.fetchBlob(peer, cid, { maxBytes: components.maxModuleBytes(), signal: AbortSignal.timeout(fetchTimeoutMs) })
        blobs.putVerified(cid, data) // fetchBlob resolves only with bytes that hash to `cid`
        events.emit('fetch', { network, cid, bytes: data.length, peer: peer.toString(), ms: performance.now() - t0 })
        return data.length
      } catch (err) {
        if (err instanceof BlobStoreWriteError) {
          // Disk full (or a store budget used up): keep serving, retry when space returns.
          events.emit('fetch-failed', { network, cid, peer: peer.toString(), error: err.message })
          log(err.message)
          return undefined
        }
        failed.add(peer.toString())
        if (err instanceof HashMismatchError) {
          countRefusal('hash_mismatch', `blob ${cid} from ${peer}: ${err.message}`, 'gossip', peer)
          penalties.penalize(peer.toString(), PENALTY.hashMismatch)
        } else if (err instanceof TooLargeError) {
          countRefusal('too_large', `blob ${cid} from ${peer}: ${err.message}`, 'gossip', peer)
          penalties.penalize(peer.toString(), PENALTY.tooLarge)
        } else if (!(err instanceof RemoteStatusError && err.status === 'not_found')) {
          // "Not found" is an honest answer: a peer relays an announcement before it has fetched
          // the blobs itself (12-18% of fetch attempts at 50 daemons); only failures are penalised.
          penalties.penalize(peer.toString(), PENALTY.fetchFailed)
        }
        events.emit('fetch-failed', { network, cid, peer: peer.toString(), error: (err as Error).message })
      }
    }
    return undefined
  }

  function retryLater (cid: string): void {
    const attempt = (retries.get(cid) ?? 0) + 1
    retries.set(cid, attempt)
    if (!stopped) setTimeout(() => { enqueue(cid) }, Math.min(DEFAULT_FETCH_RETRY_MAX_MS, DEFAULT_FETCH_RETRY_MIN_MS * 2 ** (attempt - 1))).unref()
  }

  async function fetchModule (cid: string): Promise<void> {
    const row = ledger.getModule(network, cid)
    if (row?.status !== 'fetching') return
    const failed = new Set<string>()
    const moduleBytes = await getBlob(row.moduleBlob, row, failed)
    if (moduleBytes === undefined) { retryLater(cid); return }
    if (!row.verified && !await settleClaim(row)) return
    const distilledBytes = await getBlob(row.distilled, row, failed)
    if (distilledBytes === undefined) { retryLater(cid); return }
    retries.delete(cid)
    let verdict: VerifyOutcome
    try {
      verdict = await compute.verify(network, moduleRef(row))
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_CORRUPT_BLOB') {
        // Our own copy rotted on disk (not the module's fault): reading it through the store
        // moves it to quarantine, and the retry fetches it again.
        for (const blob of [row.moduleBlob, row.distilled]) { try { blobs.get(blob) } catch { /* quarantined */ } }
        retryLater(cid)
        return
      }
      throw err
    }
    if (ledger.getModule(network, cid)?.status !== 'fetching') return // withdrawn while it was checked
    if (!verdict.ok) {
      ledger.setModuleStatus(network, cid, 'invalid', verdict.message)
      countRefusal(verdict.reason, verdict.message, 'gossip')
      penalties.penalize(row.author, PENALTY.invalidModule)
      events.emit('module-invalid', { network, cid, reason: verdict.reason, detail: verdict.message })
      log(`module ${cid.slice(-12)} refused: ${verdict.message}`)
      return
    }
    if (!ledger.markReady(network, cid, moduleBytes + distilledBytes)) return
    heardFrom.delete(cid)
    events.emit('module-ready', { network, cid })
    components.onReady(cid)
  }

  /** True when the row's claim is the author's own; otherwise drops it (and refetches for the next claim). */
  async function settleClaim (row: ModuleRow): Promise<boolean> {
    const claim = await compute.checkClaim(network, moduleRef(row))
    const now = ledger.getModule(network, row.cid)
    if (now?.recordCid !== row.recordCid) { again.add(row.cid); return false } // replaced meanwhile: check the new claim next
    if (claim.ok) {
      ledger.markVerified(network, row.cid)
      components.onVerified(row.cid)
      return true
    }
    countRefusal(claim.reason, claim.message, 'gossip')
    penalties.penalize(row.author, PENALTY.invalidModule)
    log(`claim of ${row.author.slice(-8)} on module ${row.cid.slice(-12)} dropped: ${claim.message}`)
    retries.delete(row.cid)
    if (components.dropClaim(row, claim.message)) again.add(row.cid)
    return false
  }

  function fetchMissing (): void {
    for (const row of ledger.modules(network, 'fetching')) enqueue(row.cid)
  }

  return {
    enqueue,
    fetchMissing,
    start () {
      stopped = false
      fetchMissing()
      timer = setInterval(fetchMissing, init.sweepMs ?? DEFAULT_FETCH_SWEEP_MS)
      timer.unref()
    },
    stop () {
      stopped = true
      clearInterval(timer)
    }
  }
}
