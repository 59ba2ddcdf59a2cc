import { MedforgeError } from '@medforge/merge-core'
/** A mistake in how the command was called: printed without a stack trace, exit status 2. */
export class UsageError extends MedforgeError {
  override readonly name = 'UsageError'
  readonly code = 'ERR_USAGE'
}
