// After every merge: record it, make its root a known parent, and sign and gossip an attestation
// of it, so every peer (and every operator) can see whether the network agrees.
import { ENGINE_VERSION, cidListHash } from '@medforge/merge-core'
import { encodeRecord, signRecord } from '@medforge/protocol'
import type { Identity, StateAttestation } from '@medforge/protocol'
import type { MergeSummary } from '../compute/merge-job.ts'
import type { Ledger } from '../store/ledger.ts'
import type { DaemonEvents } from './events.ts'
import type { MergeTiming } from './merge-scheduler.ts'
import type { RecordHandler } from './record-handler.ts'

export interface AttesterComponents {
  readonly network: string
  readonly ledger: Pick<Ledger, 'addMerge' | 'addComputedRoot' | 'latestMerge'>
  readonly identity: Identity
  readonly events: Pick<DaemonEvents, 'emit'>
  readonly records: Pick<RecordHandler, 'handle' | 'release'>
  readonly gossip: (bytes: Uint8Array) => Promise<void>
  readonly log: (line: string) => void
}

export interface Attester {
  attest (summary: MergeSummary, timing: MergeTiming): Promise<void>
}

export function summaryHeight (summary: Pick<MergeSummary, 'inputs'>): number {
  return summary.inputs.reduce((h, i) => Math.max(h, i.height), 0)
}

/** The input that sets a state's height (the smallest CID among ties); null for the empty state. */
export function summaryTip (summary: Pick<MergeSummary, 'inputs'>): string | null {
  const height = summaryHeight(summary)
  const at = summary.inputs.filter(i => i.height === height).map(i => i.cid).sort()
  return at[0] ?? null
}

export function createAttester (components: AttesterComponents): Attester {
  const { network, ledger, identity, events, records, log } = components
  return {
    async attest (summary, timing) {
      const height = summaryHeight(summary)
      const cids = summary.inputs.map(i => i.cid)
      const ms = timing.finishedAt - timing.startedAt
      // A restart recomputes the state it already had (from its checkpoint): one lineage row per state.
      if (ledger.latestMerge(network)?.stateRoot !== summary.stateRoot) ledger.addMerge({
        network,
        stateRoot: summary.stateRoot,
        moduleCount: cids.length,
        height,
        method: summary.method.name,
        modules: cids,
        details: { steps: summary.steps ?? null, weights: summary.weights ?? null, resumedFrom: timing.resumedFrom, metrics: summary.metrics },
        startedAt: timing.startedAt,
        finishedAt: timing.finishedAt
      })
      if (ledger.addComputedRoot(network, summary.stateRoot, height)) records.release(summary.stateRoot)
      log(`merged ${cids.length} module(s) with ${summary.method.name} in ${ms} ms → ${summary.stateRoot}`)
      events.emit('merge', { network, stateRoot: summary.stateRoot, moduleCount: cids.length, height, ms, method: summary.method.name })
      const attestation = await signRecord<StateAttestation>({
        type: 'state-attestation',
        network,
        height,
        modulesHash: cidListHash(cids),
        moduleCount: cids.length,
        tip: summaryTip(summary),
        stateRoot: summary.stateRoot,
        engine: ENGINE_VERSION,
        createdAt: Date.now()
      }, identity)
      const bytes = encodeRecord(attestation)
      await records.handle(bytes, 'local')
      await components.gossip(bytes).catch(err => { log(`attestation not gossiped: ${(err as Error).message}`) })
    }
  }
}
