// The JSON views the API serves (and `medforge status` prints).
import type { ApiDaemon } from './api-daemon.ts'
import { agreementOf } from '../daemon/agreement.ts'
import type { FirstPaint } from './dashboard-assets.ts'
import type { NetworkRuntime } from '../daemon/network-runtime.ts'

export function describeNetwork (daemon: ApiDaemon, rt: NetworkRuntime) {
  const network = rt.state.network
  const head = rt.head()
  const modules = daemon.ledger.modules(network)
  const byStatus: Record<string, number> = { fetching: 0, ready: 0, invalid: 0, revoked: 0 }
  for (const m of modules) byStatus[m.status] = (byStatus[m.status] ?? 0) + 1
  const attestations = daemon.ledger.attestations(network)
  const groups = new Map<string, { stateRoot: string, height: number, moduleCount: number, peers: string[] }>()
  for (const a of attestations) {
    const g = groups.get(a.stateRoot) ?? { stateRoot: a.stateRoot, height: a.height, moduleCount: a.moduleCount, peers: [] }
    g.peers.push(a.author)
    groups.set(a.stateRoot, g)
  }
  const agreement = agreementOf(attestations, daemon.peerId, head.stateRoot)
  return {
    network,
    name: rt.state.manifest.name,
    revision: rt.state.manifest.revision,
    method: rt.state.method.name,
    stateRoot: head.stateRoot,
    height: head.height,
    moduleCount: head.moduleCount,
    merging: rt.scheduler.running,
    modules: byStatus,
    /** Announcements waiting for their parent state root. */
    pending: rt.pendingCount,
    agreement: {
      /** Every peer heard from attests the same root as this daemon. */
      agree: agreement.agree,
      peersHeard: agreement.peersHeard,
      roots: [...groups.values()].sort((a, b) => b.peers.length - a.peers.length)
    },
    refusals: daemon.ledger.refusals(network)
  }
}

/** The dashboard's essentials as text, for its server-rendered first paint. */
export function firstPaint (daemon: ApiDaemon): FirstPaint {
  const status = describeStatus(daemon)
  const net = status.networks[0]
  const agreement = net === undefined ? 'no network joined' : net.agreement.peersHeard === 0 ? 'waiting for attestations' : net.agreement.agree ? `all ${net.agreement.peersHeard} peers agree` : 'PEERS DISAGREE'
  return {
    institution: status.name,
    peerId: status.peerId,
    networkName: net?.name ?? '',
    stateRoot: net?.stateRoot ?? '–',
    agreement,
    summary: net === undefined
      ? `${status.peers} peer(s) connected`
      : `${status.peers} peer(s) connected · ${net.modules.ready ?? 0} module(s) ready · ${net.moduleCount} merged at height ${net.height} · ${agreement} (as of ${new Date().toISOString()}; live updates need JavaScript)`
  }
}

export function describeStatus (daemon: ApiDaemon) {
  return {
    peerId: daemon.peerId,
    name: daemon.name,
    pid: process.pid,
    uptimeMs: Date.now() - daemon.startedAt,
    addresses: daemon.libp2p.getMultiaddrs().map(a => a.toString()),
    peers: daemon.libp2p.getPeers().length,
    memory: { rss: process.memoryUsage().rss, heapUsed: process.memoryUsage().heapUsed },
    blobStoreBytes: daemon.blobs.usedBytes,
    networks: [...daemon.runtimes.values()].map(rt => describeNetwork(daemon, rt))
  }
}

export function describeComposite (rt: NetworkRuntime, daemon: ApiDaemon) {
  const current = rt.scheduler.current
  const network = rt.state.network
  if (current === undefined) return { network, stateRoot: rt.head().stateRoot, merged: false, modules: [] }
  const rows = new Map(daemon.ledger.modules(network).map(m => [m.cid, m]))
  return {
    network,
    merged: true,
    stateRoot: current.stateRoot,
    engine: current.engineVersion,
    method: current.method,
    modules: current.inputs.map(i => ({ cid: i.cid, task: i.task, height: i.height, author: rows.get(i.cid)?.author ?? null, samples: i.sampleCount })),
    weights: current.weights ?? null,
    steps: current.steps ?? null
  }
}
