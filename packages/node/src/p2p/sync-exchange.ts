// The sync protocol (/medforge/sync/2.0.0): a peer that joins late (or reconnects) pages through
// the CIDs of another peer's accepted records, in that peer's arrival order, fetches the ones it
// lacks and validates each record exactly as if it had arrived by gossip. Asking for CIDs first
// matters at scale: nearly every record reaches a daemon by gossip, and 1.0.0 sent it again, in
// full, from each of the daemon's peers (BENCHMARKS.md, issue 16).
import type { Libp2p, PeerId, Startable } from '@libp2p/interface'
import type { Registrar } from '@libp2p/interface-internal'
import type { ServiceComponents } from './blob-exchange.ts'
import {
  MAX_CONTROL_FRAME, MAX_SYNC_INVENTORY, MAX_SYNC_PAGE, MAX_SYNC_REQUEST, MalformedError, SYNC_PROTOCOL, cidOfCanonicalBytes,
  decodeSyncInventory, decodeSyncRecords, decodeSyncRequest, encodeSyncInventory, encodeSyncRecords, encodeSyncRequest
} from '@medforge/protocol'
import type { SyncRequest } from '@medforge/protocol'
import { readRequest, sendFrames } from './stream-io.ts'
import type { Ledger } from '../store/ledger.ts'

export interface SyncServiceInit {
  readonly ledger: Pick<Ledger, 'recordIdsAfter' | 'recordsById'>
  /** The networks this node serves records of (the ones it has joined). */
  readonly networks: () => ReadonlySet<string>
  /** Who may page through the records (members of the network asked for); absent: anyone. */
  readonly isAllowed?: (peerId: string, network: string) => boolean
}

/** The sync protocol's server as a libp2p service: registered on start, removed on stop. */
export function syncService (init: SyncServiceInit): (components: ServiceComponents) => Startable {
  return ({ registrar }) => ({
    async start () { await serveSync(registrar, init) },
    async stop () { await registrar.unhandle(SYNC_PROTOCOL) }
  })
}

async function serveSync (registrar: Registrar, { ledger, networks, isAllowed }: SyncServiceInit): Promise<void> {
  await registrar.handle(SYNC_PROTOCOL, async (stream, connection) => {
    const signal = AbortSignal.timeout(30_000)
    try {
      const req = decodeSyncRequest(await readRequest(stream, MAX_SYNC_REQUEST, signal))
      if (isAllowed !== undefined && !isAllowed(connection.remotePeer.toString(), req.network)) throw new Error(`${connection.remotePeer} is not a member of network ${req.network}`)
      const joined = networks().has(req.network)
      const answer = req.want === 'ids'
        ? inventory(joined ? ledger.recordIdsAfter(req.network, req.after, req.limit) : [])
        : recordsPage(joined ? ledger.recordsById(req.network, req.ids) : [])
      await sendFrames(stream, [answer], signal)
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
    }
  }, { maxInboundStreams: 8 })
}

function inventory (rows: ReadonlyArray<{ seq: number, cid: string }>): Uint8Array {
  return encodeSyncInventory({ ids: rows.map(r => r.cid), next: rows.at(-1)?.seq ?? null })
}

/** The records asked for, cut short where the next would overflow one control frame. */
function recordsPage (all: readonly Uint8Array[]): Uint8Array {
  const records = []
  let bytes = 0
  for (const r of all) {
    if (records.length > 0 && bytes + r.length + 16 > MAX_CONTROL_FRAME - 64) break
    records.push(r)
    bytes += r.length + 16
  }
  return encodeSyncRecords({ records })
}

export interface SyncOptions {
  readonly network: string
  readonly maxRecordBytes: number
  readonly signal: AbortSignal
  /** Of the record CIDs a page lists, the ones this node lacks (in the order given): only those are fetched. */
  readonly unknown: (ids: readonly string[]) => string[]
  /** Called with the fetched records, in the peer's order; the next batch is asked for once it returns. */
  readonly onRecords: (records: readonly Uint8Array[]) => Promise<void>
  readonly maxPages?: number
  /** Resume after this sequence number of the peer's ledger (0 = from the start). */
  readonly after?: number
}

/**
 * Pages through `peer`'s record CIDs for a network and fetches the unknown ones; returns how many
 * records arrived and where to resume.
 */
export async function syncFrom (libp2p: Libp2p, peer: PeerId, options: SyncOptions): Promise<{ received: number, cursor: number }> {
  let after = options.after ?? 0
  let total = 0
  for (let page = 0; page < (options.maxPages ?? 10_000); page++) {
    const inv = decodeSyncInventory(await ask(libp2p, peer, { want: 'ids', network: options.network, after, limit: MAX_SYNC_INVENTORY }, options.signal))
    let missing = options.unknown(inv.ids)
    while (missing.length > 0) {
      const batch = missing.slice(0, MAX_SYNC_PAGE)
      const { records } = decodeSyncRecords(await ask(libp2p, peer, { want: 'records', network: options.network, ids: batch }, options.signal), options.maxRecordBytes)
      if (records.length === 0) break // the peer no longer has them (another peer will)
      const last = lastPositionIn(batch, records)
      total += records.length
      await options.onRecords(records)
      missing = missing.slice(last + 1)
    }
    if (inv.next === null || inv.next <= after) break
    after = inv.next
  }
  return { received: total, cursor: after }
}

/** Where the last returned record sits in the batch asked for: only those, in that order, may come back. */
function lastPositionIn (batch: readonly string[], records: readonly Uint8Array[]): number {
  let at = -1
  for (const r of records) {
    at = batch.indexOf(cidOfCanonicalBytes(r), at + 1)
    if (at < 0) throw new MalformedError('sync records', 'a record that was not asked for, or out of the order asked')
  }
  return at
}

/** One request on its own stream; returns the single answer frame. */
async function ask (libp2p: Libp2p, peer: PeerId, req: SyncRequest, signal: AbortSignal): Promise<Uint8Array> {
  const stream = await libp2p.dialProtocol(peer, SYNC_PROTOCOL, { signal })
  try {
    stream.send(encodeSyncRequest(req))
    const answer = await readRequest(stream, MAX_CONTROL_FRAME, signal)
    await stream.close({ signal })
    return answer
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}
