// The one in-memory tensor type of merge-core: row-major binary32 data with its shape.
export interface F32Tensor {
  readonly shape: readonly number[]
  readonly data: Float32Array
}

export function elementCount (shape: readonly number[]): number {
  let n = 1
  for (const d of shape) n *= d
  return n
}

export function sameShape (a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i])
}

export function formatShape (shape: readonly number[]): string {
  return `[${shape.join(', ')}]`
}

export function tensor (shape: readonly number[], data: Float32Array | readonly number[]): F32Tensor {
  const arr = data instanceof Float32Array ? data : Float32Array.from(data)
  if (arr.length !== elementCount(shape)) {
    throw new RangeError(`tensor data has ${arr.length} elements, shape ${formatShape(shape)} needs ${elementCount(shape)}`)
  }
  return { shape: [...shape], data: arr }
}

/** Byte-compares two strings by their UTF-8 encoding, the order used by every canonical encoding here. */
export function compareUtf8 (a: string, b: string): number {
  const ba = Buffer.from(a, 'utf8')
  const bb = Buffer.from(b, 'utf8')
  return Buffer.compare(ba, bb)
}
