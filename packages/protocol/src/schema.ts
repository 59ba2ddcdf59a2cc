// Small structural checks shared by the decoders: each names the field at fault.
import { MalformedError } from './errors.ts'

export type Obj = Record<string, unknown>

export function asObject (v: unknown, what: string, field = 'value'): Obj {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) throw new MalformedError(what, `${field} must be a map`)
  return v as Obj
}

export function str (o: Obj, field: string, what: string, maxLength = 256): string {
  const v = o[field]
  if (typeof v !== 'string' || v.length === 0 || v.length > maxLength) throw new MalformedError(what, `${field} must be a non-empty string of at most ${maxLength} characters`)
  return v
}

export function int (o: Obj, field: string, what: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = o[field]
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw new MalformedError(what, `${field} must be an integer in [${min}, ${max}]`)
  return v
}

export function bytes (o: Obj, field: string, what: string, length?: number): Uint8Array {
  const v = o[field]
  if (!(v instanceof Uint8Array) || (length !== undefined && v.length !== length)) throw new MalformedError(what, `${field} must be ${length ?? 'some'} bytes`)
  return v
}

export function strList (o: Obj, field: string, what: string, maxItems = 1024): string[] {
  const v = o[field]
  if (!Array.isArray(v) || v.length > maxItems || !v.every(s => typeof s === 'string' && s.length > 0 && s.length <= 1024)) {
    throw new MalformedError(what, `${field} must be a list of at most ${maxItems} non-empty strings`)
  }
  return v as string[]
}

export function onlyKeys (o: Obj, keys: readonly string[], what: string): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw new MalformedError(what, `unexpected field "${k}"`)
}
