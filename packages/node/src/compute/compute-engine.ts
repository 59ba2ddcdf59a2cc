// The heavy work of a daemon, in whatever thread runs it: verifying a module against its network,
// and merging the ready modules (Fusion folds resume from a checkpoint and report each new prefix).
// The daemon runs it in worker threads (compute-workers.ts); `medforge composite export` runs it
// in-process. Decoded modules are cached by CID, so a module is decoded once per thread.
import { FOLDING_METHODS, canonicalMethod, canonicalOrder, cidListHash, cidOfBytes, decodeModuleFile, encodeModuleFile, fusionStep, headCid, mergeModules, moduleCid } from '@medforge/merge-core'
import type { CandidateEvaluator, FusionState, LoraModule, MergeInput, MergeResult } from '@medforge/merge-core'
import type { SignedManifest } from '@medforge/protocol'
import { CorruptBlobError, InvalidModuleError, MergeCancelledError, NotJoinedError } from '../errors.ts'
import { loadNetworkState } from '../daemon/network-state.ts'
import type { NetworkState } from '../daemon/network-state.ts'
import { distilledSetMetrics } from './composite-metrics.ts'
import type { Checkpoint, MergeJob, MergeSummary, ModuleRef } from './merge-job.ts'
import { orderRefs } from './merge-job.ts'
import { checkFitsNetwork, verifyModule } from './module-verifier.ts'

export type VerifyOutcome =
  | { readonly ok: true }
  | { readonly ok: false, readonly reason: InvalidModuleError['reason'], readonly message: string }

/** Whether a claim's module blob is the module it names, by the member that claims it. */
export type ClaimOutcome = { readonly ok: true } | { readonly ok: false, readonly reason: 'malformed' | 'not_module_author', readonly message: string }

/** A module fit to publish: its CIDs, and its two files' blob CIDs (hashed off the event loop). */
/** What a publication announces; `moduleFile` is the file as published, with its author named in it. */
export interface PublishCheck { readonly module: string, readonly head: string | null, readonly moduleBlob: string, readonly distilled: string, readonly moduleFile: Uint8Array }

export interface MergeControl {
  /** Polled between loss evaluations: true abandons the merge (MergeCancelledError). */
  readonly cancelled: () => boolean
  readonly onCheckpoint: (checkpoint: Checkpoint) => void
}

export interface ComputeEngineComponents {
  /** A blob's bytes, verified against its CID; undefined when the store lacks it. */
  readonly readBlob: (cid: string) => Uint8Array | undefined
  /**
   * Keep what `verify` decoded for a later merge in this thread (default true). A thread that only
   * checks would otherwise hold every module it ever verified.
   */
  readonly keepVerified?: boolean
}

export interface ComputeEngine {
  setNetwork (chain: readonly SignedManifest[]): Promise<void>
  verify (network: string, ref: ModuleRef): VerifyOutcome
  /**
   * An announcement's claim, before anything else of it is fetched: its module blob decodes to
   * the module CID it names, and that module names the announcement's author. A no is the
   * claim's fault (another member's module, someone else's bytes), never the module's.
   */
  checkClaim (network: string, ref: ModuleRef): ClaimOutcome
  /** What a publisher checks before signing: the module fits the network; its CIDs. */
  checkPublish (network: string, task: string, author: string, moduleFile: Uint8Array, distilledFile: Uint8Array): PublishCheck
  merge (job: MergeJob, control: MergeControl): Promise<{ result: MergeResult, summary: MergeSummary }>
}

/** The hex key under which a Fusion prefix is checkpointed. */
export function prefixKey (orderedCids: readonly string[]): string {
  return Buffer.from(cidListHash(orderedCids)).toString('hex')
}

function cancellable<D> (evaluator: CandidateEvaluator<D>, cancelled: () => boolean): CandidateEvaluator<D> {
  const check = (): void => { if (cancelled()) throw new MergeCancelledError() }
  const predict = evaluator.predict?.bind(evaluator)
  return {
    id: evaluator.id,
    loss: (candidate, contributor) => { check(); return evaluator.loss(candidate, contributor) },
    ...(predict === undefined ? {} : { predict: (module, contributor) => { check(); return predict(module, contributor) } })
  }
}

export function createComputeEngine (components: ComputeEngineComponents): ComputeEngine {
  const states = new Map<string, NetworkState>()
  /** Verified, decoded modules by network and CID, with the reference they were verified against. */
  const decoded = new Map<string, { ref: ModuleRef, input: MergeInput }>()
  const sameRef = (a: ModuleRef, b: ModuleRef): boolean =>
    a.author === b.author && a.task === b.task && a.height === b.height && a.samples === b.samples && a.moduleBlob === b.moduleBlob && a.distilled === b.distilled && a.head === b.head

  const stateOf = (network: string): NetworkState => {
    const state = states.get(network)
    if (state === undefined) throw new NotJoinedError(`network ${network} is not known to this compute thread`)
    return state
  }

  function blob (cid: string, what: string, ref: ModuleRef): Uint8Array {
    const bytes = components.readBlob(cid)
    if (bytes === undefined) throw new InvalidModuleError(`module ${ref.cid}`, `its ${what} blob ${cid} is missing from the store`, 'malformed')
    return bytes
  }

  function load (state: NetworkState, ref: ModuleRef, keep = true): MergeInput {
    const key = `${state.network}|${ref.cid}`
    const cached = decoded.get(key)
    if (cached !== undefined && sameRef(cached.ref, ref)) return cached.input
    const verdict = verifyModule(state, ref, blob(ref.moduleBlob, 'module', ref), blob(ref.distilled, 'distilled set', ref))
    if (verdict instanceof InvalidModuleError) throw verdict
    const input: MergeInput = { module: verdict.module, height: ref.height, sampleCount: ref.samples, task: ref.task, context: verdict.context, label: ref.cid, cid: ref.cid, ...(verdict.inputGrams === undefined ? {} : { inputGrams: verdict.inputGrams }) }
    if (keep) decoded.set(key, { ref, input })
    return input
  }

  /** Folds with MedForge-Fusion from the job's checkpoint, reporting every new prefix. */
  async function fold (state: NetworkState, job: MergeJob, inputs: readonly MergeInput[], evaluator: CandidateEvaluator<unknown>, control: MergeControl): Promise<FusionState> {
    const method = canonicalMethod(state.method, evaluator.id)
    if (method.name !== 'medforge-fusion' && method.name !== 'medforge-fusion-product') throw new TypeError(`fold needs a folding method, the network uses ${method.name}`)
    const ordered = canonicalOrder(inputs)
    let folded: FusionState | undefined
    const start = job.resumeFrom?.count ?? 0
    if (job.resumeFrom !== undefined) {
      const bytes = components.readBlob(job.resumeFrom.blob)
      if (bytes === undefined) throw new InvalidModuleError(`checkpoint ${job.resumeFrom.blob}`, 'missing from the store', 'malformed')
      folded = { module: decodeModuleFile(bytes, `checkpoint ${job.resumeFrom.blob}`), contributors: ordered.slice(0, start), steps: job.resumeFrom.steps }
    }
    for (let i = start; i < ordered.length; i++) {
      folded = await fusionStep(folded, ordered[i]!, method, evaluator)
      const moduleFile = encodeModuleFile({ ...folded.module, heads: new Map() })
      control.onCheckpoint({ prefix: prefixKey(ordered.slice(0, i + 1).map(x => x.cid)), count: i + 1, moduleFile, blob: cidOfBytes(moduleFile), steps: folded.steps })
    }
    return folded!
  }

  return {
    async setNetwork (chain) {
      const state = await loadNetworkState(chain)
      states.set(state.network, state)
    },

    verify (network, ref) {
      const state = stateOf(network)
      try {
        load(state, ref, components.keepVerified ?? true)
        return { ok: true }
      } catch (err) {
        if (err instanceof InvalidModuleError) return { ok: false, reason: err.reason, message: err.message }
        if (err instanceof CorruptBlobError) throw err // this node's disk, not the module: not a verdict
        return { ok: false, reason: 'malformed', message: `module ${ref.cid}: ${(err as Error).message}` }
      }
    },

    checkClaim (network, ref) {
      stateOf(network)
      const bytes = blob(ref.moduleBlob, 'module', ref)
      let module: LoraModule
      try {
        module = decodeModuleFile(bytes, `module blob ${ref.moduleBlob}`)
      } catch (err) {
        return { ok: false, reason: 'malformed', message: `module blob ${ref.moduleBlob} is not module ${ref.cid}: ${(err as Error).message}` }
      }
      const actual = moduleCid(module)
      if (actual !== ref.cid) return { ok: false, reason: 'malformed', message: `module blob ${ref.moduleBlob} holds module ${actual}, not ${ref.cid}` }
      if (module.author !== ref.author) return { ok: false, reason: 'not_module_author', message: `module ${ref.cid} names ${module.author ?? 'no author'} as its author; ${ref.author} announced it as its own` }
      return { ok: true }
    },

    checkPublish (network, taskId, author, moduleFile, distilledFile) {
      const state = stateOf(network)
      const task = state.tasks.get(taskId)
      if (task === undefined) throw new InvalidModuleError('publish', `task "${taskId}" is not one of the network's tasks (${[...state.tasks.keys()].join(', ')})`, 'unknown_task')
      const decoded = decodeModuleFile(moduleFile, 'published module')
      if (decoded.author !== undefined && decoded.author !== author) throw new InvalidModuleError('published module', `the file names ${decoded.author} as its author; this institution is ${author}`, 'not_module_author')
      checkFitsNetwork(state, decoded, task, distilledFile, 'published module', 'published distilled set')
      // The author becomes part of the module's identity (its CID), so no other member can claim it.
      const module = { ...decoded, author }
      const authored = encodeModuleFile(module)
      return { module: moduleCid(module), head: headCid(module) ?? null, moduleBlob: cidOfBytes(authored), distilled: cidOfBytes(distilledFile), moduleFile: authored }
    },

    async merge (job, control) {
      const state = stateOf(job.network)
      const refs = orderRefs(job.modules)
      const live = new Set(refs.map(r => `${job.network}|${r.cid}`))
      for (const key of decoded.keys()) if (key.startsWith(`${job.network}|`) && !live.has(key)) decoded.delete(key)
      const inputs = refs.map(ref => load(state, ref))
      const evaluator = cancellable(state.model.evaluator(), control.cancelled)
      const searched = FOLDING_METHODS.includes(state.method.name) && inputs.length > 0
      const resumeFrom = searched ? await fold(state, job, inputs, evaluator, control) : undefined
      const result = await mergeModules(inputs, state.method, { evaluator, ...(resumeFrom === undefined ? {} : { resumeFrom }) })
      let metrics = {}
      try {
        metrics = await distilledSetMetrics(result, evaluator)
      } catch (err) {
        if (err instanceof MergeCancelledError) throw err
        // Indicative numbers only: a model that cannot score its sets still merges.
      }
      const summary: MergeSummary = {
        stateRoot: result.stateRoot,
        engineVersion: result.engineVersion,
        method: result.method,
        inputs: result.inputs.map(i => ({ cid: i.cid, task: i.task, height: i.height, sampleCount: i.sampleCount })),
        ...(result.weights === undefined ? {} : { weights: result.weights }),
        ...(result.steps === undefined ? {} : { steps: result.steps }),
        metrics,
        resumedFrom: searched ? job.resumeFrom?.count ?? 0 : 0
      }
      return { result, summary }
    }
  }
}
