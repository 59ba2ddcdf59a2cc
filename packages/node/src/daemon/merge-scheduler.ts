// Recomputes the composite whenever the set of ready modules changes. Requests coalesce (at most
// one merge running and one pending), so the queue is bounded however fast modules arrive, and the
// current composite is always the latest finished one. The merge itself runs on a compute thread:
// when the ready set changes while it runs, it is abandoned and restarted, and a MedForge-Fusion
// fold resumes from the longest prefix already checkpointed (a module that sorts last costs one
// step, one that sorts early recomputes only from its position).
import type { Compute } from '../compute/compute-workers.ts'
import { readyMergeJob, storeCheckpoint } from '../compute/checkpoints.ts'
import type { MergeSummary } from '../compute/merge-job.ts'
import { MergeCancelledError } from '../errors.ts'
import type { BlobStore } from '../store/blob-store.ts'
import type { Ledger } from '../store/ledger.ts'

export interface MergeTiming { readonly startedAt: number, readonly finishedAt: number, readonly resumedFrom: number }

export interface MergeSchedulerComponents {
  readonly ledger: Ledger
  readonly blobs: BlobStore
  readonly compute: Pick<Compute, 'merge'>
  readonly network: string
  /** Whether the network's method folds (MedForge-Fusion): only folds are checkpointed. */
  readonly folds: () => boolean
  /** The composite of no modules: computed here, so an empty network starts no compute thread. */
  readonly empty?: () => MergeSummary
  readonly onMerged: (summary: MergeSummary, timing: MergeTiming) => void | Promise<void>
  readonly onError: (err: Error) => void
  readonly log?: (line: string) => void
}

export interface MergeScheduler {
  /** Asks for a merge of the current ready set; returns when that request has been served. */
  schedule (): Promise<void>
  readonly current: MergeSummary | undefined
  readonly running: boolean
  /** Abandons the running merge (if any) and refuses new ones. */
  stop (): Promise<void>
}

const sameCids = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i])

export function createMergeScheduler (components: MergeSchedulerComponents): MergeScheduler {
  const { ledger, blobs, network } = components
  let current: MergeSummary | undefined
  let running: Promise<void> | undefined
  let pending: PromiseWithResolvers<void> | undefined
  let inProgress: { cids: readonly string[], controller: AbortController } | undefined
  let stopped = false

  const readyCids = (): string[] => readyMergeJob(ledger, blobs, network, false).modules.map(m => m.cid)

  async function runOnce (): Promise<void> {
    const job = readyMergeJob(ledger, blobs, network, components.folds())
    const cids = job.modules.map(m => m.cid)
    if (current !== undefined && sameCids(current.inputs.map(i => i.cid), cids)) return
    const startedAt = Date.now()
    const controller = new AbortController()
    inProgress = { cids, controller }
    try {
      const summary = job.modules.length === 0 && components.empty !== undefined ? components.empty() : await components.compute.merge(job, {
        signal: controller.signal,
        onCheckpoint: checkpoint => {
          try {
            storeCheckpoint(ledger, blobs, network, checkpoint)
          } catch (err) {
            // A checkpoint only saves time later: a full disk must not fail the merge.
            components.log?.(`checkpoint ${checkpoint.count} not stored: ${(err as Error).message}`)
          }
        }
      })
      current = summary
      await components.onMerged(summary, { startedAt, finishedAt: Date.now(), resumedFrom: summary.resumedFrom })
    } catch (err) {
      if (!(err instanceof MergeCancelledError)) throw err
      components.log?.(`merge of ${cids.length} module(s) abandoned: the ready set changed`)
    } finally {
      inProgress = undefined
    }
  }

  async function loop (): Promise<void> {
    while (pending !== undefined && !stopped) {
      const served = pending
      pending = undefined
      try {
        await runOnce()
      } catch (err) {
        components.onError(err as Error)
      }
      // An abandoned merge left its request pending: it is served by the next turn.
      const next = pending as PromiseWithResolvers<void> | undefined
      if (next === undefined) served.resolve()
      else void next.promise.then(() => { served.resolve() })
    }
    running = undefined
  }

  return {
    get current () { return current },
    get running () { return running !== undefined },
    schedule () {
      if (stopped) return Promise.resolve()
      pending ??= Promise.withResolvers<void>()
      const waiter = pending.promise
      if (inProgress !== undefined && !sameCids(inProgress.cids, readyCids())) inProgress.controller.abort()
      running ??= loop()
      return waiter
    },
    async stop () {
      stopped = true
      inProgress?.controller.abort()
      pending?.resolve()
      await running
    }
  }
}
