// Every signed record, from gossip, sync or this node itself, goes through here once: decoded and
// validated once (protocol's rules, cheapest first), then applied to the ledger in one transaction.
// Announcements whose parent is unknown wait in the pending pool; accepted ones get their blobs:
// stored here when they came attached (a gossip envelope), fetched otherwise.
import type { PeerId } from '@libp2p/interface'
import { cidOfCanonicalBytes, manifestCid, matchAttachedBlobs, recordAuthor, recordCid, validateRecord } from '@medforge/protocol'
import type { ModuleAnnouncement, SignedManifest, SignedRecord, ValidationResult } from '@medforge/protocol'
import { DEFAULT_AUTHOR_ANNOUNCEMENTS_PER_MINUTE, DEFAULT_MAX_GOSSIP_AGE_MS } from '../constants.ts'
import { BlobStoreWriteError } from '../errors.ts'
import { createRateLimiter } from '../p2p/rate-limiter.ts'
import type { BlobStore } from '../store/blob-store.ts'
import type { Ledger } from '../store/ledger.ts'
import type { DaemonEvents } from './events.ts'
import { validationContext } from './network-state.ts'
import type { NetworkState } from './network-state.ts'
import type { PendingPool } from './pending-pool.ts'
import { applyAnnouncement, applyAttestation, applyEquivocation, applyRevocation, rootsProvenBy } from './record-effects.ts'
import type { CountRefusal, RecordSource } from './refusals.ts'

export interface RecordHandlerComponents {
  readonly state: () => NetworkState
  readonly ledger: Ledger
  /** Where blobs attached to an announcement are stored (then no fetch is needed). */
  readonly blobs: Pick<BlobStore, 'putVerified' | 'size'>
  readonly events: Pick<DaemonEvents, 'emit'>
  readonly countRefusal: CountRefusal
  readonly pending: PendingPool
  /** An accepted announcement: fetch its blobs (first from the peer that sent it). */
  readonly onAnnouncement: (module: string, from?: PeerId) => void
  /** The set of mergeable modules changed (a revocation, an equivocation). */
  readonly onInputsChanged: () => void
  /** A verified manifest revision arrived: apply it (validation and every service see it). */
  readonly onRevision: (revision: SignedManifest) => Promise<void>
  readonly log: (line: string) => void
}

export interface RecordHandlerInit {
  readonly maxGossipAgeMs?: number
  readonly authorAnnouncementsPerMinute?: number
}

export interface RecordHandler {
  /** `attached`: blobs that came with the record in a gossip envelope (each must hash to a CID it names). */
  handle (bytes: Uint8Array, source: RecordSource, from?: PeerId, attached?: readonly Uint8Array[]): Promise<ValidationResult<SignedRecord>>
  /** Re-handles the announcements that were waiting for `root`. */
  release (root: string): void
}

/** A clear message for a failed ledger write (SQLite says "database or disk is full"). */
function storageErrorMessage (err: unknown): string {
  const message = (err as Error).message
  return /disk is full|SQLITE_FULL|ENOSPC/i.test(message) ? `ledger write failed: the disk is full (${message})` : `ledger write failed: ${message}`
}

/** Pending-pool key of revisions waiting for a manifest (roots and manifest CIDs never collide: the prefix). */
const manifestKey = (cid: string | null): string => `manifest:${cid ?? ''}`

export function createRecordHandler (components: RecordHandlerComponents, init: RecordHandlerInit = {}): RecordHandler {
  const { ledger, events, countRefusal, pending, log } = components
  const perMinute = init.authorAnnouncementsPerMinute ?? DEFAULT_AUTHOR_ANNOUNCEMENTS_PER_MINUTE
  // Every record type is rate-limited per author (after its signature verified): announcements at
  // the configured rate, attestations at one a second (one per merge, and merges coalesce), and
  // revocations at the announcement rate.
  const limiters = {
    'module-announcement': createRateLimiter({ ratePerSecond: perMinute / 60, burst: perMinute }),
    'state-attestation': createRateLimiter({ ratePerSecond: 1, burst: 60 }),
    revocation: createRateLimiter({ ratePerSecond: perMinute / 60, burst: perMinute }),
    'manifest-revision': createRateLimiter({ ratePerSecond: 1 / 60, burst: 10 })
  }
  const maxGossipAgeMs = init.maxGossipAgeMs ?? DEFAULT_MAX_GOSSIP_AGE_MS

  function lookups (network: string, source: RecordSource) {
    return {
      isKnownRecord: (cid: string) => ledger.hasRecord(cid),
      rootHeight: (root: string) => ledger.rootHeight(network, root),
      isComputedRoot: (root: string) => ledger.rootComputed(network, root),
      moduleAuthor: (module: string) => { const row = ledger.getModule(network, module); return row?.verified === true ? row.author : undefined },
      equivocates: (r: ModuleAnnouncement) => ledger.announcedModules(network, r.author, r.task, r.height).some(m => m !== r.module),
      ...(source === 'gossip' ? { maxAgeMs: maxGossipAgeMs } : {})
    }
  }

  /** Keeps the evidence (sync spreads it, so every peer withdraws the same modules) and withdraws. */
  function withdrawEquivocation (r: ModuleAnnouncement, bytes: Uint8Array): void {
    const withdrawn = ledger.transaction(() => {
      ledger.addRecord({ cid: recordCid(r), network: r.network, type: r.type, author: r.author, bytes })
      return applyEquivocation(ledger, r)
    })
    if (withdrawn.length > 0) {
      log(`equivocation by ${r.author.slice(-8)}: withdrew ${withdrawn.length} module(s)`)
      components.onInputsChanged()
    }
  }

  async function handle (bytes: Uint8Array, source: RecordSource, from?: PeerId, attached: readonly Uint8Array[] = []): Promise<ValidationResult<SignedRecord>> {
    const state = components.state()
    const network = state.network
    // Sync pages through a peer's history, most of which this node has (from gossip or from other
    // peers): a known record is recognised from its bytes' hash, before decoding and validating it.
    // (Gossip's own seen-cache already drops repeats; one that reaches here still takes the full
    // path, so a replayed stale record is refused as stale.)
    if (source === 'sync' && bytes.length <= state.manifest.limits.maxMessageBytes && ledger.hasRecord(cidOfCanonicalBytes(bytes))) return { verdict: 'ignore', code: 'duplicate', detail: 'already seen' }
    let result = await validateRecord(bytes, validationContext(state, lookups(network, source)))
    // A valid record still counts against its author's rate (a member flooding the network).
    // Attestations and revocations are limited as gossip only: sync pages through history this node
    // asked for, and a late joiner must not drop part of it.
    if (result.verdict === 'accept' && result.record !== undefined && (source === 'gossip' || (source === 'sync' && result.record.type === 'module-announcement'))) {
      const r = result.record
      const author = recordAuthor(r)
      if (!limiters[r.type].take(author)) result = { verdict: 'ignore', code: 'rate_limited', detail: `${author} sends ${r.type} records faster than its rate`, record: r }
    }
    // Attached blobs are hashed only for a record whose signature verified and that is new here.
    let attachedBlobs: ReadonlyMap<string, Uint8Array> = new Map()
    if (result.verdict === 'accept' && attached.length > 0) {
      const matched = matchAttachedBlobs(result.record!, attached)
      if (matched.ok) attachedBlobs = matched.blobs
      else result = { verdict: 'reject', code: matched.code, detail: matched.detail, record: result.record! }
    }
    if (result.code === 'equivocation' && result.record?.type === 'module-announcement') withdrawEquivocation(result.record, bytes)
    if (result.verdict !== 'accept') {
      const waitsFor = result.code !== 'parent_unknown' ? undefined : result.record?.type === 'module-announcement' ? result.record.parentRoot : result.record?.type === 'manifest-revision' ? manifestKey(result.record.manifest.body.parent) : undefined
      if (waitsFor !== undefined) {
        // Parked without its attached blobs (the pool stays small): they are fetched once it applies.
        if (!pending.park(waitsFor, { bytes, source, ...(from === undefined ? {} : { from }) })) countRefusal('parent_unknown', 'pending pool full', source, from)
      } else if (result.code !== 'duplicate' || source === 'gossip') {
        // Gossip's own seen-cache drops ordinary duplicates, so one that reaches here is a replay.
        countRefusal(result.code, result.detail ?? '', source, from, result.verdict === 'ignore' ? 'ignore' : 'reject')
      }
      return result
    }
    const record = result.record!
    const cid = result.cid ?? recordCid(record)
    // The record and what it changes land in one transaction (one commit per record).
    let released: string[] | undefined
    try {
      released = ledger.transaction(() => {
        if (!ledger.addRecord({ cid, network, type: record.type, author: recordAuthor(record), bytes })) return undefined
        switch (record.type) {
          case 'module-announcement':
            applyAnnouncement(ledger, record)
            return rootsProvenBy(ledger, network, record.module)
          case 'state-attestation': return applyAttestation(ledger, record, cid)
          default: return []
        }
      })
    } catch (err) {
      // Nothing was stored, so the record is not "known": sync delivers it again once writes work.
      const message = storageErrorMessage(err)
      events.emit('storage-error', { network, what: `${record.type} ${cid}`, error: message })
      log(`cannot store ${record.type} ${cid}: ${message}`)
      countRefusal('storage_full', message, source, from, 'ignore')
      return { verdict: 'ignore', code: 'storage_full', detail: message, record }
    }
    if (released === undefined) return { verdict: 'ignore', code: 'duplicate', detail: 'already seen', record }
    events.emit('record', { network, type: record.type, cid, source, from: from?.toString() })
    switch (record.type) {
      case 'module-announcement':
        storeAttached(network, attachedBlobs, from)
        log(`module ${record.module.slice(-12)} (${record.task}, height ${record.height}) from ${record.author.slice(-8)} via ${source}`)
        components.onAnnouncement(record.module, from)
        for (const root of released) release(root)
        break
      case 'state-attestation':
        for (const root of released) release(root)
        events.emit('attestation', { network, author: record.author, stateRoot: record.stateRoot, height: record.height })
        break
      case 'revocation':
        if (applyRevocation(ledger, record)) components.onInputsChanged()
        break
      case 'manifest-revision':
        log(`manifest revision ${record.manifest.body.revision} via ${source}`)
        await components.onRevision(record.manifest)
        release(manifestKey(manifestCid(record.manifest.body)))
        break
    }
    return result
  }

  /** Stores blobs that came with an announcement; one that cannot be written is fetched later instead. */
  function storeAttached (network: string, attachedBlobs: ReadonlyMap<string, Uint8Array>, from: PeerId | undefined): void {
    for (const [cid, data] of attachedBlobs) {
      if (components.blobs.size(cid) !== undefined) continue
      try {
        components.blobs.putVerified(cid, data) // matchAttachedBlobs hashed it to `cid`
        events.emit('blob-attached', { network, cid, bytes: data.length, from: from?.toString() })
      } catch (err) {
        if (!(err instanceof BlobStoreWriteError)) throw err
        log(`attached blob ${cid} not stored (${err.message}); it will be fetched`)
      }
    }
  }

  function release (root: string): void {
    for (const w of pending.release(root)) void handle(w.bytes, w.source, w.from)
  }

  return { handle, release }
}
