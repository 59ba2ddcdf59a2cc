// The one base of every MedForge error: a stable `code` (and `name`) that the CLI's exit status,
// the API's HTTP status and the metrics' labels are chosen by, never the message text.
export abstract class MedforgeError extends Error {
  abstract readonly code: string
}

export function isMedforgeError (err: unknown): err is MedforgeError {
  return err instanceof MedforgeError
}
