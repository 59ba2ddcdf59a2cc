// Recomputes the composite whenever the set of ready modules changes. Requests coalesce (at most
// one merge running and one pending), so the queue is bounded however fast modules arrive, and the
// current composite is always the latest finished one. MedForge-Fusion folds resume from a stored
// checkpoint of the longest already-folded prefix, so a module that sorts last costs one step and
// one that sorts early recomputes only from its position.
import { createHash } from 'node:crypto'
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import { canonicalMethod, canonicalOrder, decodeModuleFile, encodeModuleFile, fusionStep, mergeModules } from '@medforge/merge-core'
import type { FusionState, FusionStep, MergeInput, MergeResult, OrderedInput } from '@medforge/merge-core'
import type { BlobStore } from '../store/blob-store.ts'
import type { Ledger } from '../store/ledger.ts'
import type { NetworkState } from './network-state.ts'

export interface MergeSchedulerComponents {
  readonly ledger: Ledger
  readonly blobs: BlobStore
  readonly network: NetworkState
  /** The ready modules, with their distilled sets decoded as context. */
  readonly loadInputs: () => MergeInput[]
  readonly onMerged: (result: MergeResult, timing: { startedAt: number, finishedAt: number, resumedFrom: number }) => void | Promise<void>
  readonly onError: (err: Error) => void
}

export interface MergeScheduler {
  /** Asks for a merge of the current ready set; returns when that request has been served. */
  schedule (): Promise<void>
  readonly current: MergeResult | undefined
  readonly running: boolean
  /** Waits for the running merge (if any) and refuses new ones. */
  stop (): Promise<void>
}

function prefixKey (cids: readonly string[]): string {
  const h = createHash('sha256')
  for (const c of cids) h.update(`${c}\n`)
  return h.digest('hex')
}

export function createMergeScheduler (components: MergeSchedulerComponents): MergeScheduler {
  const { ledger, blobs, network } = components
  let current: MergeResult | undefined
  let running: Promise<void> | undefined
  let pending: PromiseWithResolvers<void> | undefined
  let stopped = false

  const searched = network.method.name === 'medforge-fusion'

  function loadCheckpoint (ordered: readonly OrderedInput[], count: number): FusionState | undefined {
    const row = ledger.getCheckpoint(network.network, prefixKey(ordered.slice(0, count).map(i => i.cid)))
    if (row === undefined) return undefined
    const bytes = blobs.get(row.blob)
    if (bytes === undefined) return undefined
    return { module: decodeModuleFile(bytes, `checkpoint ${row.blob}`), contributors: ordered.slice(0, count), steps: JSON.parse(row.steps) as FusionStep[] }
  }

  /** Folds with MedForge-Fusion from the longest checkpointed prefix, checkpointing every new prefix. */
  async function fold (inputs: readonly MergeInput[]): Promise<{ state: FusionState | undefined, resumedFrom: number }> {
    const evaluator = network.model.evaluator()
    const method = canonicalMethod(network.method, evaluator.id)
    if (method.name !== 'medforge-fusion') throw new Error('unreachable')
    const ordered = canonicalOrder(inputs)
    let state: FusionState | undefined
    let start = 0
    for (let n = ordered.length; n > 0; n--) {
      state = loadCheckpoint(ordered, n)
      if (state !== undefined) { start = n; break }
    }
    for (let i = start; i < ordered.length; i++) {
      if (stopped) return { state: undefined, resumedFrom: start }
      state = await fusionStep(state, ordered[i]!, method, evaluator)
      const blob = blobs.put(encodeModuleFile({ ...state.module, heads: new Map() }))
      ledger.putCheckpoint({ network: network.network, prefix: prefixKey(ordered.slice(0, i + 1).map(x => x.cid)), count: i + 1, blob, steps: JSON.stringify(state.steps) })
      await yieldToEventLoop() // let gossip and the API run between fold steps
    }
    return { state, resumedFrom: start }
  }

  async function runOnce (): Promise<void> {
    const inputs = components.loadInputs()
    const cids = canonicalOrder(inputs).map(i => i.cid)
    if (current !== undefined && current.inputs.length === cids.length && current.inputs.every((x, i) => x.cid === cids[i])) return
    const startedAt = Date.now()
    let result: MergeResult
    let resumedFrom = 0
    const evaluator = network.model.evaluator()
    if (searched && inputs.length > 0) {
      const folded = await fold(inputs)
      if (folded.state === undefined) return
      resumedFrom = folded.resumedFrom
      result = await mergeModules(inputs, network.method, { evaluator, resumeFrom: folded.state })
    } else {
      result = await mergeModules(inputs, network.method, { evaluator })
    }
    current = result
    await components.onMerged(result, { startedAt, finishedAt: Date.now(), resumedFrom })
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
      served.resolve()
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
      running ??= loop()
      return waiter
    },
    async stop () {
      stopped = true
      pending?.resolve()
      await running
    }
  }
}
