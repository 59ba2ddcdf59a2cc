// One error class per failure, each with a stable `name` and `code` so callers (and metrics) can
// branch on them without parsing messages. Messages name the file and tensor at fault.
import { MedforgeError } from './medforge-error.ts'

export class InvalidSafetensorsError extends MedforgeError {
  override readonly name = 'InvalidSafetensorsError'
  readonly code = 'ERR_INVALID_SAFETENSORS'
  readonly source: string
  readonly tensor: string | undefined

  constructor (source: string, detail: string, tensor?: string) {
    super(`${source}: invalid safetensors${tensor === undefined ? '' : ` (tensor "${tensor}")`}: ${detail}`)
    this.source = source
    this.tensor = tensor
  }
}

export class InvalidAdapterError extends MedforgeError {
  override readonly name = 'InvalidAdapterError'
  readonly code = 'ERR_INVALID_ADAPTER'
  readonly source: string

  constructor (source: string, detail: string) {
    super(`${source}: invalid PEFT LoRA adapter: ${detail}`)
    this.source = source
  }
}

export class IncompatibleModulesError extends MedforgeError {
  override readonly name = 'IncompatibleModulesError'
  readonly code = 'ERR_INCOMPATIBLE_MODULES'
  readonly field: string

  constructor (field: string, detail: string) {
    super(`modules cannot be merged: ${field} differs: ${detail}`)
    this.field = field
  }
}

export class InvalidMergeOptionsError extends MedforgeError {
  override readonly name = 'InvalidMergeOptionsError'
  readonly code = 'ERR_INVALID_MERGE_OPTIONS'

  constructor (detail: string) {
    super(`invalid merge options: ${detail}`)
  }
}

export class InvalidLossError extends MedforgeError {
  override readonly name = 'InvalidLossError'
  readonly code = 'ERR_INVALID_LOSS'

  constructor (detail: string) {
    super(`loss function returned an unusable value: ${detail}`)
  }
}

export class InvalidDistilledSetError extends MedforgeError {
  override readonly name = 'InvalidDistilledSetError'
  readonly code = 'ERR_INVALID_DISTILLED_SET'
  readonly source: string

  constructor (source: string, detail: string) {
    super(`${source}: invalid distilled set: ${detail}`)
    this.source = source
  }
}

