// One error class per failure, each with a stable name and code.
import { MedforgeError } from '@medforge/merge-core'

/** A record, manifest or frame could not be decoded or violates its schema. */
export class MalformedError extends MedforgeError {
  override readonly name = 'MalformedError'
  readonly code = 'ERR_MALFORMED'
  readonly what: string

  constructor (what: string, detail: string) {
    super(`malformed ${what}: ${detail}`)
    this.what = what
  }
}

/** Input is larger than the limit that applies to it; nothing past the limit was read. */
export class TooLargeError extends MedforgeError {
  override readonly name = 'TooLargeError'
  readonly code = 'ERR_TOO_LARGE'

  constructor (what: string, size: number, limit: number) {
    super(`${what} is ${size} bytes, over the limit of ${limit}`)
  }
}

/** A network manifest or revision does not verify (signatures, quorum, chain). */
export class ManifestVerificationError extends MedforgeError {
  override readonly name = 'ManifestVerificationError'
  readonly code = 'ERR_MANIFEST_VERIFICATION'
}

/** A key file is unreadable or not an Ed25519 institution key. */
export class InvalidKeyFileError extends MedforgeError {
  override readonly name = 'InvalidKeyFileError'
  readonly code = 'ERR_INVALID_KEY_FILE'

  constructor (path: string, detail: string) {
    super(`${path}: ${detail}`)
  }
}

/** A blob's bytes do not hash to the CID that was asked for. */
export class HashMismatchError extends MedforgeError {
  override readonly name = 'HashMismatchError'
  readonly code = 'ERR_HASH_MISMATCH'

  constructor (expected: string, actual: string) {
    super(`blob does not match its CID: expected ${expected}, got ${actual}`)
  }
}

/** The remote peer answered a stream request with a non-ok status. */
export class RemoteStatusError extends MedforgeError {
  override readonly name = 'RemoteStatusError'
  readonly code = 'ERR_REMOTE_STATUS'
  readonly status: string

  constructor (status: string, message: string) {
    super(`remote answered ${status}${message === '' ? '' : `: ${message}`}`)
    this.status = status
  }
}
