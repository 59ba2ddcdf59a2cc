// The sync protocol (/medforge/sync/1.0.0): a peer that joins late (or reconnects) pages through
// another peer's ledger of accepted records, in that peer's arrival order, and validates each
// record exactly as if it had arrived by gossip.
import type { Libp2p, PeerId, Startable } from '@libp2p/interface'
import type { Registrar } from '@libp2p/interface-internal'
import type { ServiceComponents } from './blob-exchange.ts'
import { MAX_CONTROL_FRAME, MAX_SYNC_PAGE, SYNC_PROTOCOL, decodeSyncRequest, decodeSyncResponse, encodeSyncRequest, encodeSyncResponse } from '@medforge/protocol'
import { readRequest, sendFrames } from './stream-io.ts'
import type { Ledger } from '../store/ledger.ts'

export interface SyncServiceInit {
  readonly ledger: Pick<Ledger, 'recordsAfter'>
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
      const req = decodeSyncRequest(await readRequest(stream, 4096, signal))
      if (isAllowed !== undefined && !isAllowed(connection.remotePeer.toString(), req.network)) throw new Error(`${connection.remotePeer} is not a member of network ${req.network}`)
      const all = networks().has(req.network) ? ledger.recordsAfter(req.network, req.after, req.limit) : []
      // A page must fit one control frame: stop early (and say where to go on) when it would not.
      const rows = []
      let bytes = 0
      for (const r of all) {
        if (rows.length > 0 && bytes + r.bytes.length + 16 > MAX_CONTROL_FRAME - 64) break
        rows.push(r)
        bytes += r.bytes.length + 16
      }
      const last = rows.at(-1)
      // `next`: the sequence number to resume after; null once nothing is left.
      const next = last === undefined ? null : last.seq
      await sendFrames(stream, [encodeSyncResponse({ records: rows.map(r => r.bytes), next })], signal)
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
    }
  }, { maxInboundStreams: 8 })
}

export interface SyncOptions {
  readonly network: string
  readonly maxRecordBytes: number
  readonly signal: AbortSignal
  /** Called with each page's records, in order; the next page is asked for once it returns. */
  readonly onRecords: (records: readonly Uint8Array[]) => Promise<void>
  readonly maxPages?: number
  /** Resume after this sequence number of the peer's ledger (0 = from the start). */
  readonly after?: number
}

/** Pages through `peer`'s records for a network; returns how many arrived and where to resume. */
export async function syncFrom (libp2p: Libp2p, peer: PeerId, options: SyncOptions): Promise<{ received: number, cursor: number }> {
  let after = options.after ?? 0
  let total = 0
  for (let page = 0; page < (options.maxPages ?? 10_000); page++) {
    const stream = await libp2p.dialProtocol(peer, SYNC_PROTOCOL, { signal: options.signal })
    let response
    try {
      stream.send(encodeSyncRequest({ network: options.network, after, limit: MAX_SYNC_PAGE }))
      response = decodeSyncResponse(await readRequest(stream, MAX_CONTROL_FRAME, options.signal), options.maxRecordBytes)
      await stream.close({ signal: options.signal })
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
    total += response.records.length
    await options.onRecords(response.records)
    if (response.next === null || response.next <= after) break
    after = response.next
  }
  return { received: total, cursor: after }
}
