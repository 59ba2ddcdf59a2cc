// Where merges meet the data directory: the ready modules as a merge job, resumed from the longest
// Fusion prefix already checkpointed, and each new prefix stored as a blob plus a ledger row.
import type { BlobStore } from '../store/blob-store.ts'
import type { Ledger, ModuleRow } from '../store/ledger.ts'
import { prefixKey } from './compute-engine.ts'
import type { Checkpoint, CheckpointRef, MergeJob, ModuleRef } from './merge-job.ts'
import { orderRefs } from './merge-job.ts'

export function moduleRef (row: ModuleRow): ModuleRef {
  return { cid: row.cid, author: row.author, task: row.task, height: row.height, samples: row.samples, moduleBlob: row.moduleBlob, distilled: row.distilled, head: row.head }
}

/** The longest checkpointed prefix of `orderedCids` whose blob the store still has. */
export function findCheckpoint (ledger: Ledger, blobs: BlobStore, network: string, orderedCids: readonly string[]): CheckpointRef | undefined {
  for (let n = orderedCids.length; n > 0; n--) {
    const row = ledger.getCheckpoint(network, prefixKey(orderedCids.slice(0, n)))
    if (row !== undefined && blobs.has(row.blob)) return { count: n, blob: row.blob, steps: JSON.parse(row.steps) as CheckpointRef['steps'] }
  }
  return undefined
}

/** The network's ready modules in canonical order, resuming where a stored fold stops (searched methods). */
export function readyMergeJob (ledger: Ledger, blobs: BlobStore, network: string, folds: boolean): MergeJob {
  const modules = orderRefs(ledger.modules(network, 'ready').map(moduleRef))
  const resumeFrom = folds ? findCheckpoint(ledger, blobs, network, modules.map(m => m.cid)) : undefined
  return { network, modules, ...(resumeFrom === undefined ? {} : { resumeFrom }) }
}

export function storeCheckpoint (ledger: Ledger, blobs: BlobStore, network: string, checkpoint: Checkpoint): void {
  const blob = blobs.putVerified(checkpoint.blob, checkpoint.moduleFile)
  ledger.putCheckpoint({ network, prefix: checkpoint.prefix, count: checkpoint.count, blob, steps: JSON.stringify(checkpoint.steps) })
}
