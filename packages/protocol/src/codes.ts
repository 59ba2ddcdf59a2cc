// The closed set of validation outcomes. Codes double as metric labels, so they never change
// meaning; new ones are only added.

export type Verdict = 'accept' | 'ignore' | 'reject'

export const VALIDATION_CODES = [
  'ok',
  'too_large',
  'malformed',
  'unknown_type',
  'unknown_network',
  'unknown_task',
  'not_a_member',
  'revoked_member',
  'not_authorized',
  'bad_signature',
  'wrong_shape',
  'future_timestamp',
  'stale',
  'duplicate',
  'equivocation',
  'parent_unknown',
  'blob_missing',
  'hash_mismatch',
  'wrong_height',
  'fetch_failed',
  'rate_limited',
  'storage_full',
  'not_module_author'
] as const

export type ValidationCode = typeof VALIDATION_CODES[number]

export interface ValidationResult<T> {
  readonly verdict: Verdict
  readonly code: ValidationCode
  readonly detail?: string
  /** The decoded record, when decoding got that far. */
  readonly record?: T
  /** The record's CID (of its canonical bytes), when decoding got that far. */
  readonly cid?: string
}

export function accept<T> (record: T): ValidationResult<T> {
  return { verdict: 'accept', code: 'ok', record }
}

/** May become valid later (parent not yet known, blob not yet fetched): drop without penalty. */
export function ignore<T> (code: ValidationCode, detail: string, record?: T): ValidationResult<T> {
  return { verdict: 'ignore', code, detail, ...(record === undefined ? {} : { record }) }
}

/** Provably bad (bad signature, non-member, malformed): drop and penalise the sender. */
export function reject<T> (code: ValidationCode, detail: string, record?: T): ValidationResult<T> {
  return { verdict: 'reject', code, detail, ...(record === undefined ? {} : { record }) }
}
