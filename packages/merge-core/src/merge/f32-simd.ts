// The weighted sum's inner loops as WebAssembly SIMD (f32x4): four lanes per instruction instead
// of one element per scalar step. f32x4.mul and f32x4.add round each lane once to binary32 (round
// to nearest even), exactly as the scalar kernel's Math.fround(w·x) and binary32 store of out + p
// do, so both give the same bits (tests compare them; DETERMINISM.md). Inputs are finite (modules
// are checked on decode), so no NaN payload can differ between engines.
// The module is assembled here from named opcodes rather than shipped as an opaque blob. Data is
// streamed through windows of its memory: up to SIMD_GROUP inputs' windows are copied in, then one
// kernel call folds them all into the output lanes held in registers (acc = acc + w_k·x_k, in
// input order), so each element's partial sum is loaded and stored once per group, not per input.

/** Floats per window: 64 KiB, so a ViT-B/16 r=16 factor (12,288 floats) is copied in whole. */
export const SIMD_CHUNK = 16384
/** Inputs folded per kernel call; more inputs go in successive groups that accumulate. */
export const SIMD_GROUP = 8
const WINDOW = SIMD_CHUNK * 4
const OUT = 0
const X = WINDOW // input k's window at X + k·WINDOW
const WEIGHTS = X + SIMD_GROUP * WINDOW
const PAGES = Math.ceil((WEIGHTS + SIMD_GROUP * 4) / 65536)

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
  // memargs: alignment 2^4 (v128) or 2^2 (one f32), then a constant byte offset
  v128Load: (offset: number) => [0xfd, 0x00, 0x04, ...leb(offset)], v128Store: [0xfd, 0x0b, 0x04, 0x00],
  v128Load32Splat: (offset: number) => [0xfd, 0x09, 0x02, ...leb(offset)],
  f32x4Add: [0xfd, 0xe4, 0x01], f32x4Mul: [0xfd, 0xe6, 0x01]
}
const get = (i: number): number[] => [op.localGet, i]
const set = (i: number): number[] => [op.localSet, i]

// (out: i32, x: i32, bytes: i32, weights: i32); locals 4: i (i32), 5…: weight k in every lane (v128).
// Input k is read at x + k·WINDOW + i (a constant memarg offset, no address arithmetic).
function kernel (group: number, accumulate: boolean): number[] {
  const I = 4
  const W = 5
  const term = (k: number): number[] => [...get(1), ...get(I), ...op.i32Add, ...op.v128Load(k * WINDOW), ...get(W + k), ...op.f32x4Mul]
  const body: number[] = []
  for (let k = 0; k < group; k++) body.push(...get(3), ...op.v128Load32Splat(k * 4), ...set(W + k))
  body.push(...op.block, ...op.loop, ...get(I), ...get(2), ...op.i32GeU, op.brIf, 1)
  body.push(...get(0), ...get(I), ...op.i32Add) // the store's address
  if (accumulate) body.push(...get(0), ...get(I), ...op.i32Add, ...op.v128Load(0), ...term(0), ...op.f32x4Add)
  else body.push(...term(0))
  for (let k = 1; k < group; k++) body.push(...term(k), ...op.f32x4Add)
  body.push(...op.v128Store, ...get(I), op.i32Const, 16, ...op.i32Add, ...set(I), op.br, 0, ...op.end, ...op.end, ...op.end)
  const locals = vec([[1, 0x7f], [...leb(group), 0x7b]])
  return [...leb(locals.length + body.length), ...locals, ...body]
}

const name = (group: number, accumulate: boolean): string => `${accumulate ? 'acc' : 'set'}${group}`
const variants = Array.from({ length: SIMD_GROUP }, (_, i) => i + 1).flatMap(group => [{ group, accumulate: false }, { group, accumulate: true }])

const bytes = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, vec([[0x60, ...vec([[0x7f], [0x7f], [0x7f], [0x7f]]), 0x00]])),
  ...section(3, vec(variants.map(() => [0x00]))),
  ...section(5, vec([[0x00, ...leb(PAGES)]])),
  ...section(7, vec([[...str('memory'), 0x02, 0x00], ...variants.map((v, i) => [...str(name(v.group, v.accumulate)), 0x00, ...leb(i)])])),
  ...section(10, vec(variants.map(v => kernel(v.group, v.accumulate))))
])

type Kernel = (out: number, x: number, bytes: number, weights: number) => void
/** fold[g - 1]: the kernels for a group of g inputs, [starting the sum, adding to it]. */
interface Kernels { readonly heap: Float32Array, readonly fold: ReadonlyArray<readonly [Kernel, Kernel]> }

// The WebAssembly global, typed narrowly (this project's TypeScript libs do not declare it).
const wasm = (globalThis as unknown as { WebAssembly?: { Module: new (b: Uint8Array) => object, Instance: new (m: object) => { exports: unknown } } }).WebAssembly

let kernels: Kernels | null | undefined
/** The SIMD kernels, or null where the engine has no WebAssembly SIMD (the scalar path is used). */
function load (): Kernels | null {
  if (kernels === undefined) {
    try {
      if (wasm === undefined) throw new Error('no WebAssembly')
      const exports = new wasm.Instance(new wasm.Module(bytes)).exports as Record<string, Kernel> & { memory: { buffer: ArrayBuffer } }
      const fold = Array.from({ length: SIMD_GROUP }, (_, i) => [exports[name(i + 1, false)]!, exports[name(i + 1, true)]!] as const)
      kernels = { heap: new Float32Array(exports.memory.buffer), fold }
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
  const { heap, fold } = k
  for (let start = 0; start < end; start += SIMD_CHUNK) {
    const len = Math.min(SIMD_CHUNK, end - start)
    const whole = len === xs[0]!.length // a whole tensor: copied without making views
    for (let first = 0; first < xs.length; first += SIMD_GROUP) {
      const group = Math.min(SIMD_GROUP, xs.length - first)
      for (let i = 0; i < group; i++) {
        const x = xs[first + i]!
        heap.set(whole ? x : x.subarray(start, start + len), (X + i * WINDOW) / 4)
        heap[WEIGHTS / 4 + i] = weights[first + i]!
      }
      fold[group - 1]![first === 0 ? 0 : 1]!(OUT, X, len * 4, WEIGHTS)
    }
    out.set(heap.subarray(OUT / 4, OUT / 4 + len), start)
  }
  return true
}
