// The daemon's heavy work off its event loop: two worker threads, one for merges and one for
// checks (module verification on receipt and before publishing), so a long Fusion fold never
// delays the verification of the module that should interrupt it. Each lane runs one job at a
// time with a deadline; a job past its deadline has its thread stopped and the next job starts
// on a fresh one. A merge is cancelled through a shared flag the fold polls between evaluations.
import { Worker } from 'node:worker_threads'
import type { SignedManifest } from '@medforge/protocol'
import { ComputeDeadlineError, ComputeWorkerError, InvalidModuleError, MergeCancelledError } from '../errors.ts'
import { DEFAULT_CHECK_DEADLINE_MS, DEFAULT_COMPUTE_IDLE_MS, DEFAULT_MERGE_DEADLINE_MS } from '../constants.ts'
import type { ClaimOutcome, PublishCheck, VerifyOutcome } from './compute-engine.ts'
import type { Checkpoint, MergeJob, MergeSummary, ModuleRef } from './merge-job.ts'
import type { WorkerErrorData, WorkerReply, WorkerRequest } from './worker-messages.ts'

export interface ComputeWorkersInit {
  readonly blobDir: string
  readonly mergeDeadlineMs?: number
  readonly checkDeadlineMs?: number
  /** An idle thread is stopped after this long (default DEFAULT_COMPUTE_IDLE_MS). */
  readonly idleMs?: number
  readonly log?: (line: string) => void
}

export interface MergeOptions {
  readonly signal?: AbortSignal
  readonly onCheckpoint: (checkpoint: Checkpoint) => void
}

/** What the daemon asks of its compute threads (the merge scheduler and the module fetcher use it). */
export interface Compute {
  /** Loads (or, after a revision, reloads) a network in every compute thread. */
  setNetwork (network: string, chain: readonly SignedManifest[]): Promise<void>
  verify (network: string, ref: ModuleRef): Promise<VerifyOutcome>
  checkClaim (network: string, ref: ModuleRef): Promise<ClaimOutcome>
  checkPublish (network: string, task: string, author: string, moduleFile: Uint8Array, distilledFile: Uint8Array): Promise<PublishCheck>
  merge (job: MergeJob, options: MergeOptions): Promise<MergeSummary>
  stop (): Promise<void>
}

type Request = { op: WorkerRequest['op'] } & Record<string, unknown>

function rebuild (e: WorkerErrorData): Error {
  if (e.code === 'ERR_MERGE_CANCELLED') return new MergeCancelledError()
  if (e.code === 'ERR_INVALID_MODULE') return new InvalidModuleError('', e.message, (e.reason ?? 'malformed') as InvalidModuleError['reason'])
  return new ComputeWorkerError(e.message, e.code)
}

interface Lane {
  run<T> (request: Request, options: { deadlineMs: number, what: string, transfer?: ArrayBuffer[], onCheckpoint?: (c: Checkpoint) => void }): Promise<T>
  /** Whether a thread is running now (an idle lane has none: it starts on the next job). */
  readonly live: boolean
  stop (): Promise<void>
}

function createLane (name: string, init: ComputeWorkersInit, chains: () => Array<readonly SignedManifest[]>): Lane {
  let worker: Worker | undefined
  let nextId = 1
  let tail: Promise<unknown> = Promise.resolve()
  let stopped = false
  let inFlight: { id: number, resolve: (v: unknown) => void, reject: (e: Error) => void, onCheckpoint?: (c: Checkpoint) => void } | undefined
  /** Replies to the 'network' messages a fresh worker is primed with: nobody waits on them. */
  const priming = new Set<number>()
  let pending = 0
  let idleTimer: NodeJS.Timeout | undefined
  /** A thread idle this long is stopped (its memory returned); the next job starts a fresh one. */
  const idleStop = (): void => {
    clearTimeout(idleTimer)
    if (pending > 0 || worker === undefined) return
    idleTimer = setTimeout(() => {
      if (pending > 0 || worker === undefined) return
      const w = worker
      worker = undefined
      void w.terminate()
    }, init.idleMs ?? DEFAULT_COMPUTE_IDLE_MS)
    idleTimer.unref()
  }

  function spawn (): Worker {
    const w = new Worker(new URL('./compute-worker.ts', import.meta.url), { workerData: { blobDir: init.blobDir, lane: name }, name: `medforge-${name}` })
    w.on('message', (reply: WorkerReply) => {
      if (priming.delete(reply.id)) {
        if (reply.type === 'error') init.log?.(`compute ${name}: ${reply.error.message}`)
        return
      }
      if (inFlight?.id !== reply.id) return
      if (reply.type === 'checkpoint') { inFlight.onCheckpoint?.(reply.checkpoint); return }
      const job = inFlight
      inFlight = undefined
      if (reply.type === 'result') job.resolve(reply.value)
      else job.reject(rebuild(reply.error))
    })
    const fail = (err: Error): void => {
      if (worker === w) worker = undefined
      const job = inFlight
      inFlight = undefined
      job?.reject(err)
    }
    w.on('error', err => { fail(new ComputeWorkerError(`compute thread ${name} failed: ${err.message}`)) })
    w.on('exit', code => { fail(new ComputeWorkerError(`compute thread ${name} exited (code ${code})`)) })
    for (const chain of chains()) {
      const id = nextId++
      priming.add(id)
      w.postMessage({ id, op: 'network', chain } satisfies WorkerRequest)
    }
    return w
  }

  async function runNow<T> (request: Request, options: { deadlineMs: number, what: string, transfer?: ArrayBuffer[], onCheckpoint?: (c: Checkpoint) => void }): Promise<T> {
    if (stopped) throw new ComputeWorkerError(`compute thread ${name} is stopped`)
    worker ??= spawn()
    const w = worker
    const id = nextId++
    const done = new Promise<T>((resolve, reject) => {
      inFlight = { id, resolve: resolve as (v: unknown) => void, reject, ...(options.onCheckpoint === undefined ? {} : { onCheckpoint: options.onCheckpoint }) }
    })
    const timer = setTimeout(() => {
      const job = inFlight
      if (job?.id !== id) return
      inFlight = undefined
      if (worker === w) worker = undefined
      void w.terminate()
      job.reject(new ComputeDeadlineError(options.what, options.deadlineMs))
    }, options.deadlineMs)
    w.postMessage({ ...request, id }, options.transfer ?? [])
    try {
      return await done
    } finally {
      clearTimeout(timer)
    }
  }

  return {
    run<T> (request: Request, options: { deadlineMs: number, what: string, transfer?: ArrayBuffer[], onCheckpoint?: (c: Checkpoint) => void }): Promise<T> {
      pending++
      clearTimeout(idleTimer)
      const result = tail.then(async () => await runNow<T>(request, options)).finally(() => { pending--; idleStop() })
      tail = result.catch(() => {})
      return result
    },
    get live () { return worker !== undefined },
    async stop () {
      stopped = true
      clearTimeout(idleTimer)
      const w = worker
      worker = undefined
      inFlight?.reject(new ComputeWorkerError(`compute thread ${name} stopped`))
      inFlight = undefined
      await w?.terminate()
    }
  }
}

export function createComputeWorkers (init: ComputeWorkersInit): Compute {
  const chains = new Map<string, readonly SignedManifest[]>()
  const known = (): Array<readonly SignedManifest[]> => [...chains.values()]
  const merges = createLane('merge', init, known)
  const checks = createLane('check', init, known)
  const mergeDeadlineMs = init.mergeDeadlineMs ?? DEFAULT_MERGE_DEADLINE_MS
  const checkDeadlineMs = init.checkDeadlineMs ?? DEFAULT_CHECK_DEADLINE_MS

  return {
    async setNetwork (network, chain) {
      chains.set(network, chain)
      // A thread that is not running gets every network when it starts; a live one loads it now.
      const options = { deadlineMs: checkDeadlineMs, what: 'loading a network' }
      await Promise.all([merges, checks].filter(lane => lane.live).map(async lane => await lane.run({ op: 'network', chain }, options)))
    },
    async verify (network, ref) {
      return await checks.run<VerifyOutcome>({ op: 'verify', network, ref }, { deadlineMs: checkDeadlineMs, what: `verifying module ${ref.cid}` })
    },
    async checkClaim (network, ref) {
      return await checks.run<ClaimOutcome>({ op: 'check-claim', network, ref }, { deadlineMs: checkDeadlineMs, what: `checking the claim on module ${ref.cid}` })
    },
    async checkPublish (network, task, author, moduleFile, distilledFile) {
      return await checks.run<PublishCheck>({ op: 'check-publish', network, task, author, moduleFile, distilledFile }, { deadlineMs: checkDeadlineMs, what: 'checking the module to publish' })
    },
    async merge (job, options) {
      options.signal?.throwIfAborted()
      const cancel = new SharedArrayBuffer(4)
      const flag = new Int32Array(cancel)
      const abort = (): void => { Atomics.store(flag, 0, 1) }
      options.signal?.addEventListener('abort', abort, { once: true })
      try {
        return await merges.run<MergeSummary>({ op: 'merge', job, cancel }, { deadlineMs: mergeDeadlineMs, what: `merging ${job.modules.length} module(s)`, onCheckpoint: options.onCheckpoint })
      } finally {
        options.signal?.removeEventListener('abort', abort)
      }
    },
    async stop () {
      await Promise.all([merges.stop(), checks.stop()])
    }
  }
}
