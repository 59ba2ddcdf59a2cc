// What a merge needs, as plain data that crosses a worker boundary: the modules by reference
// (their blobs' CIDs), the checkpoint to resume from, and the summary that comes back.
import type { CanonicalMethod, FusionStep } from '@medforge/merge-core'
import type { TaskMetrics } from './composite-metrics.ts'

/** A module the ledger holds: enough to find, verify and place its blobs. */
export interface ModuleRef {
  readonly cid: string
  readonly author: string
  readonly task: string
  readonly height: number
  readonly samples: number
  readonly moduleBlob: string
  readonly distilled: string
  readonly head: string | null
}

/** A stored Fusion prefix: the first `count` modules of the canonical order, folded. */
export interface CheckpointRef {
  readonly count: number
  readonly blob: string
  readonly steps: readonly FusionStep[]
}

export interface MergeJob {
  readonly network: string
  readonly modules: readonly ModuleRef[]
  readonly resumeFrom?: CheckpointRef
}

/** A new prefix, folded: the caller stores it so a later fold (or a restart) resumes here. */
export interface Checkpoint {
  readonly prefix: string
  readonly count: number
  readonly moduleFile: Uint8Array
  /** The module file's blob CID, hashed where the file was made. */
  readonly blob: string
  readonly steps: readonly FusionStep[]
}

/** The composite as the daemon reports it (the composite's tensors stay where they were made). */
export interface MergeSummary {
  readonly stateRoot: string
  readonly engineVersion: string
  readonly method: CanonicalMethod
  readonly inputs: ReadonlyArray<{ readonly cid: string, readonly task: string | undefined, readonly height: number, readonly sampleCount: number | undefined }>
  readonly weights?: readonly number[]
  readonly steps?: readonly FusionStep[]
  /** Per-task metrics on the contributors' distilled sets (empty when the model cannot predict). */
  readonly metrics: Record<string, TaskMetrics>
  readonly resumedFrom: number
}

/** The canonical order of module references: by height, then CID (merge-core's order). */
export function orderRefs (modules: readonly ModuleRef[]): ModuleRef[] {
  return [...modules].sort((a, b) => a.height - b.height || (a.cid < b.cid ? -1 : a.cid > b.cid ? 1 : 0))
}
