// One error class per failure of the clinical pipeline, each with a stable name and code.
import { MedforgeError } from '@medforge/merge-core'

/** A .npz or .npy file is corrupt, truncated or uses a feature this reader does not support. */
export class InvalidNpzError extends MedforgeError {
  override readonly name = 'InvalidNpzError'
  readonly code = 'ERR_INVALID_NPZ'
  readonly source: string

  constructor (source: string, detail: string) {
    super(`${source}: invalid npz: ${detail}`)
    this.source = source
  }
}

/** A dataset, shard or task is missing or inconsistent. */
export class InvalidDatasetError extends MedforgeError {
  override readonly name = 'InvalidDatasetError'
  readonly code = 'ERR_INVALID_DATASET'
}

/** The requested TensorFlow.js backend cannot be loaded on this machine. */
export class BackendUnavailableError extends MedforgeError {
  override readonly name = 'BackendUnavailableError'
  readonly code = 'ERR_BACKEND_UNAVAILABLE'
}
