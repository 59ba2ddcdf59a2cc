// Canonical JSON: object keys in UTF-8 byte order, no whitespace, finite numbers only.
// Used wherever JSON is hashed, so equal values always hash equally.
import { compareUtf8 } from './tensor.ts'

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }

export function canonicalJson (value: unknown): string {
  if (value === null) return 'null'
  switch (typeof value) {
    case 'boolean': return value ? 'true' : 'false'
    case 'number':
      if (!Number.isFinite(value)) throw new RangeError(`canonical JSON cannot hold ${value}`)
      return JSON.stringify(Object.is(value, -0) ? 0 : value)
    case 'string': return JSON.stringify(value)
    case 'object':
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
      return `{${Object.keys(value as object).filter(k => (value as Record<string, unknown>)[k] !== undefined).sort(compareUtf8)
        .map(k => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`
    default:
      throw new TypeError(`canonical JSON cannot hold a ${typeof value}`)
  }
}
