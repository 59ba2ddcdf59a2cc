// Prometheus metrics of a daemon (prom-client): libp2p's own (through @libp2p/prometheus-metrics,
// on the same registry) plus MedForge's gossip, validation, fetch and merge counters and
// histograms. Label values come from closed sets (validation codes, record types), never from
// peer input, so a hostile peer cannot blow up the number of series.
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { Ledger } from '../store/ledger.ts'
import type { Agreement } from './agreement.ts'
import type { DaemonEvents } from './events.ts'

export interface DaemonMetrics {
  readonly registry: Registry
  text (): Promise<string>
  readonly contentType: string
}

export function createRegistry (): Registry {
  return new Registry()
}

export function createDaemonMetrics (components: { registry: Registry, events: DaemonEvents, ledger: Ledger, networks: () => string[], peers: () => number, agreement: (network: string) => Agreement }): DaemonMetrics {
  const { registry, events, ledger } = components
  const registers = [registry]
  // The network label is always one of the networks this daemon joined (never a peer's string).
  const records = new Counter({ name: 'medforge_records_accepted_total', help: 'Records accepted, by type and how they arrived', labelNames: ['network', 'type', 'source'], registers })
  const refusals = new Counter({ name: 'medforge_validation_refusals_total', help: 'Records and blobs refused, by validation code and verdict', labelNames: ['network', 'code', 'verdict', 'source'], registers })
  const fetchBytes = new Counter({ name: 'medforge_blob_fetch_bytes_total', help: 'Bytes of blobs fetched and verified', registers })
  const fetches = new Counter({ name: 'medforge_blob_fetches_total', help: 'Blob fetch attempts by outcome', labelNames: ['outcome'], registers })
  const attached = new Counter({ name: 'medforge_attached_blobs_total', help: 'Blobs that came attached to an announcement and were stored (not fetched)', registers })
  const attachedBytes = new Counter({ name: 'medforge_attached_blob_bytes_total', help: 'Bytes of blobs that came attached to an announcement', registers })
  const fetchSeconds = new Histogram({ name: 'medforge_blob_fetch_seconds', help: 'Time to fetch and verify one blob', buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30], registers })
  const merges = new Counter({ name: 'medforge_merges_total', help: 'Merges completed, by method', labelNames: ['network', 'method'], registers })
  const mergeSeconds = new Histogram({ name: 'medforge_merge_seconds', help: 'Wall time of one merge (including Fusion searches)', labelNames: ['network', 'method'], buckets: [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60], registers })
  const published = new Counter({ name: 'medforge_modules_published_total', help: 'Modules this daemon published', registers })
  new Gauge({
    name: 'medforge_modules',
    help: 'Admitted modules by status',
    labelNames: ['network', 'status'],
    registers,
    collect () {
      for (const network of components.networks()) {
        const counts: Record<string, number> = { fetching: 0, ready: 0, invalid: 0, revoked: 0 }
        for (const m of ledger.modules(network)) counts[m.status] = (counts[m.status] ?? 0) + 1
        for (const [status, v] of Object.entries(counts)) this.set({ network, status }, v)
      }
    }
  })
  const height = new Gauge({ name: 'medforge_state_height', help: 'Height of the latest merged state', labelNames: ['network'], registers })
  // What an operator alerts on: 1 when every peer heard attests this daemon's root, else 0.
  new Gauge({
    name: 'medforge_agreement',
    help: '1 when every peer heard from attests the same state root as this daemon, 0 otherwise (none heard included)',
    labelNames: ['network'],
    registers,
    collect () { for (const network of components.networks()) this.set({ network }, components.agreement(network).agree ? 1 : 0) }
  })
  new Gauge({
    name: 'medforge_agreement_peers',
    help: 'Peers whose latest attestation was heard, by whether it names this daemon\'s state root',
    labelNames: ['network', 'root'],
    registers,
    collect () {
      for (const network of components.networks()) {
        const a = components.agreement(network)
        this.set({ network, root: 'same' }, a.peersAgreeing)
        this.set({ network, root: 'different' }, a.peersHeard - a.peersAgreeing)
      }
    }
  })
  new Gauge({ name: 'medforge_connected_peers', help: 'Peers with an open connection', registers, collect () { this.set(components.peers()) } })
  events.on(e => {
    switch (e.name) {
      case 'record': { const d = e.detail as { network: string, type: string, source: string }; records.inc({ network: d.network, type: d.type, source: d.source }); break }
      case 'refusal': { const d = e.detail as { network: string, code: string, verdict: string, source: string }; refusals.inc({ network: d.network, code: d.code, verdict: d.verdict, source: d.source }); break }
      case 'fetch': { const d = e.detail as { bytes: number, ms: number }; fetchBytes.inc(d.bytes); fetches.inc({ outcome: 'ok' }); fetchSeconds.observe(d.ms / 1000); break }
      case 'fetch-failed': fetches.inc({ outcome: 'failed' }); break
      case 'blob-attached': { attached.inc(); attachedBytes.inc((e.detail as { bytes: number }).bytes); break }
      case 'merge': { const d = e.detail as { network: string, method: string, ms: number, height: number }; merges.inc({ network: d.network, method: d.method }); mergeSeconds.observe({ network: d.network, method: d.method }, d.ms / 1000); height.set({ network: d.network }, d.height); break }
      case 'published': published.inc(); break
    }
  })
  return { registry, contentType: registry.contentType, text: async () => await registry.metrics() }
}
