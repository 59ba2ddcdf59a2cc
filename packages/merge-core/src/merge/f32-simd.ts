// The weighted sum's inner loops as WebAssembly SIMD (f32x4): four lanes per instruction instead
// of one element per scalar step. f32x4.mul and f32x4.add round each lane once to binary32 (round
// to nearest even), exactly as the scalar kernel's Math.fround(w·x) and binary32 store of out + p
// do, so both give the same bits (tests compare them; DETERMINISM.md). Inputs are finite (modules
// are checked on decode), so no NaN payload can differ between engines.
// The module is assembled here from named opcodes rather than shipped as an opaque blob. Data is
// streamed through two 16 KiB windows of its memory, so every input is read from RAM once and the
// arithmetic runs on cache-resident lanes.

/** Floats per window: 16 KiB, a quarter of one wasm page for each of the two windows. */
export const SIMD_CHUNK = 4096
const OUT = 0
const X = SIMD_CHUNK * 4

const leb = (n: number): number[] => {
  const out: number[] = []
  do {
    let byte = n & 0x7f
    n >>>= 7
    if (n !== 0) byte |= 0x80
    out.push(byte)
  } while (n !== 0)
  return out
}
const str = (s: string): number[] => [...leb(s.length), ...[...s].map(c => c.charCodeAt(0))]
const section = (id: number, body: number[]): number[] => [id, ...leb(body.length), ...body]
const vec = (items: number[][]): number[] => [...leb(items.length), ...items.flat()]

const op = {
  block: [0x02, 0x40], loop: [0x03, 0x40], end: [0x0b], br: 0x0c, brIf: 0x0d,
  localGet: 0x20, localSet: 0x21, i32Const: 0x41, i32GeU: [0x4f], i32Add: [0x6a],
  v128Load: [0xfd, 0x00, 0x04, 0x00], v128Store: [0xfd, 0x0b, 0x04, 0x00], // memarg: 16-byte alignment, offset 0
  f32x4Splat: [0xfd, 0x13], f32x4Add: [0xfd, 0xe4, 0x01], f32x4Mul: [0xfd, 0xe6, 0x01]
}
const get = (i: number): number[] => [op.localGet, i]
const set = (i: number): number[] => [op.localSet, i]

// (out: i32, x: i32, bytes: i32, w: f32); locals 4: i (i32), 5: w in every lane (v128).
function kernel (accumulate: boolean): number[] {
  const lanes = [...get(1), ...get(4), ...op.i32Add, ...op.v128Load, ...get(5), ...op.f32x4Mul]
  const body = [
    ...get(3), ...op.f32x4Splat, ...set(5),
    ...op.block, ...op.loop,
    ...get(4), ...get(2), ...op.i32GeU, op.brIf, 1,
    ...get(0), ...get(4), ...op.i32Add,
    ...(accumulate ? [...get(0), ...get(4), ...op.i32Add, ...op.v128Load, ...lanes, ...op.f32x4Add] : lanes),
    ...op.v128Store,
    ...get(4), op.i32Const, 16, ...op.i32Add, ...set(4),
    op.br, 0,
    ...op.end, ...op.end, ...op.end
  ]
  const locals = vec([[1, 0x7f], [1, 0x7b]])
  return [...leb(locals.length + body.length), ...locals, ...body]
}

const bytes = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, vec([[0x60, ...vec([[0x7f], [0x7f], [0x7f], [0x7d]]), 0x00]])),
  ...section(3, vec([[0x00], [0x00]])),
  ...section(5, vec([[0x00, 0x01]])),
  ...section(7, vec([[...str('memory'), 0x02, 0x00], [...str('mul'), 0x00, 0x00], [...str('axpy'), 0x00, 0x01]])),
  ...section(10, [...leb(2), ...kernel(false), ...kernel(true)])
])

interface Kernels { readonly memory: { readonly buffer: ArrayBuffer }, mul (out: number, x: number, bytes: number, w: number): void, axpy (out: number, x: number, bytes: number, w: number): void }

// The WebAssembly global, typed narrowly (this project's TypeScript libs do not declare it).
const wasm = (globalThis as unknown as { WebAssembly?: { Module: new (b: Uint8Array) => object, Instance: new (m: object) => { exports: unknown } } }).WebAssembly

let kernels: Kernels | null | undefined
/** The SIMD kernels, or null where the engine has no WebAssembly SIMD (the scalar path is used). */
function load (): Kernels | null {
  if (kernels === undefined) {
    try {
      kernels = wasm === undefined ? null : new wasm.Instance(new wasm.Module(bytes)).exports as Kernels
    } catch {
      kernels = null
    }
  }
  return kernels
}

/**
 * out[j] = Σ_i w_i·x_i[j] (w_i already binary32), inputs in order, each product and partial sum
 * rounded to binary32, for j below a multiple of 4; false when SIMD is unavailable.
 */
export function weightedSumSimd (xs: readonly Float32Array[], weights: readonly number[], out: Float32Array, end: number): boolean {
  const k = load()
  if (k === null) return false
  const heap = new Float32Array(k.memory.buffer)
  for (let start = 0; start < end; start += SIMD_CHUNK) {
    const len = Math.min(SIMD_CHUNK, end - start)
    for (let i = 0; i < xs.length; i++) {
      heap.set(xs[i]!.subarray(start, start + len), X / 4)
      if (i === 0) k.mul(OUT, X, len * 4, weights[0]!)
      else k.axpy(OUT, X, len * 4, weights[i]!)
    }
    out.set(heap.subarray(OUT / 4, OUT / 4 + len), start)
  }
  return true
}
