// One error class per failure of the daemon, each with a stable name and code.
import { MedforgeError } from '@medforge/merge-core'

/** The data directory is missing, unreadable or not initialised. */
export class DataDirError extends MedforgeError {
  override readonly name = 'DataDirError'
  readonly code = 'ERR_DATA_DIR'

  constructor (dir: string, detail: string) {
    super(`data directory ${dir}: ${detail}`)
  }
}

/** The blob store could not write (disk full, permissions); nothing partial was left behind. */
export class BlobStoreWriteError extends MedforgeError {
  override readonly name = 'BlobStoreWriteError'
  readonly code = 'ERR_BLOB_STORE_WRITE'
  override readonly cause: unknown
  readonly diskFull: boolean

  constructor (cid: string, cause: unknown) {
    const errno = (cause as NodeJS.ErrnoException).code
    const diskFull = errno === 'ENOSPC' || errno === 'EDQUOT'
    super(`cannot store blob ${cid}: ${diskFull ? 'the disk is full' : (cause as Error).message}`)
    this.cause = cause
    this.diskFull = diskFull
  }
}

/** A stored blob no longer matches its CID (disk corruption or tampering); it was moved aside. */
export class CorruptBlobError extends MedforgeError {
  override readonly name = 'CorruptBlobError'
  readonly code = 'ERR_CORRUPT_BLOB'

  constructor (cid: string, path: string) {
    super(`blob ${cid} at ${path} does not match its CID; quarantined`)
  }
}

/** A module bundle or module blob is unusable for this network (shape, policy, format). */
export class InvalidModuleError extends MedforgeError {
  override readonly name = 'InvalidModuleError'
  readonly code = 'ERR_INVALID_MODULE'
  /** The validation code it maps to, for metrics. */
  readonly reason: 'wrong_shape' | 'malformed' | 'unknown_task' | 'too_large' | 'not_module_author'

  /** `where` names the file or module at fault ('' when `detail` already does). */
  constructor (where: string, detail: string, reason: InvalidModuleError['reason'] = 'wrong_shape') {
    super(where === '' ? detail : `${where}: ${detail}`)
    this.reason = reason
  }
}

/** The daemon is not a member of (or has not joined) the network an operation needs. */
export class NotJoinedError extends MedforgeError {
  override readonly name = 'NotJoinedError'
  readonly code = 'ERR_NOT_JOINED'
}

/** The daemon's HTTP API answered with an error or could not be reached. */
export class ApiRequestError extends MedforgeError {
  override readonly name = 'ApiRequestError'
  readonly code = 'ERR_API_REQUEST'
  readonly status: number

  constructor (message: string, status: number) {
    super(message)
    this.status = status
  }
}

/** A merge was abandoned because the set of modules changed while it ran (it restarts at once). */
export class MergeCancelledError extends MedforgeError {
  override readonly name = 'MergeCancelledError'
  readonly code = 'ERR_MERGE_CANCELLED'

  constructor () {
    super('merge abandoned: the set of modules changed')
  }
}

/** A compute job (merge, verification) outran its deadline; its worker thread was stopped. */
export class ComputeDeadlineError extends MedforgeError {
  override readonly name = 'ComputeDeadlineError'
  readonly code = 'ERR_COMPUTE_DEADLINE'

  constructor (what: string, ms: number) {
    super(`${what} did not finish within ${Math.round(ms / 1000)} s; its worker thread was stopped`)
  }
}

/** A compute worker thread failed (crashed, ran out of memory) or returned an error of its own. */
export class ComputeWorkerError extends MedforgeError {
  override readonly name = 'ComputeWorkerError'
  readonly code: string

  constructor (message: string, code = 'ERR_COMPUTE_WORKER') {
    super(message)
    this.code = code
  }
}
