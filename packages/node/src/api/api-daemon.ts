// What the HTTP API needs of a daemon, and no more: the API depends on this, not on the daemon
// module, so the daemon can create its API without an import cycle (and tests can stub it).
import type { MedforgeLibp2p } from '../p2p/create-libp2p.ts'
import type { DaemonEvents } from '../daemon/events.ts'
import type { DaemonMetrics } from '../daemon/metrics.ts'
import type { NetworkRuntime } from '../daemon/network-runtime.ts'
import type { SignedManifest } from '@medforge/protocol'
import type { BlobStore } from '../store/blob-store.ts'
import type { Ledger } from '../store/ledger.ts'

export interface PeerInfo {
  readonly peerId: string
  readonly name: string | null
  /** Where the peer listens (as its identify message says): the addresses to dial it at. */
  readonly addresses: string[]
  /** The open connections' remote ends (an inbound one shows the peer's ephemeral port). */
  readonly connections: string[]
  readonly status: string
  readonly direction: string
  readonly latencyMs: number | null
  readonly gossipScore: number
  readonly topics: string[]
}

export interface ApiDaemon {
  readonly peerId: string
  readonly name: string
  readonly startedAt: number
  readonly libp2p: Pick<MedforgeLibp2p, 'getMultiaddrs' | 'getPeers'>
  readonly ledger: Pick<Ledger, 'modules' | 'attestations' | 'merges' | 'refusals'>
  readonly blobs: Pick<BlobStore, 'usedBytes'>
  readonly events: DaemonEvents
  readonly metrics: Pick<DaemonMetrics, 'text' | 'contentType'>
  readonly runtimes: ReadonlyMap<string, NetworkRuntime>
  readonly blocked: ReadonlySet<string>
  peers (): PeerInfo[]
  runtime (network?: string): NetworkRuntime
  blockPeer (peerId: string): Promise<void>
  unblockPeer (peerId: string): void
  applyRevision (revision: SignedManifest): Promise<{ network: string, revision: number, revoked: string[] }>
  publishRevision (revision: SignedManifest): Promise<{ network: string, revision: number, revoked: string[] }>
}
