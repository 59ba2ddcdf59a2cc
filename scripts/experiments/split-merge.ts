// Issue 16 experiment: would a root that can be split, with the merge split across threads, take an
// 8-module merge past 50% of copy? A design that does not exist in the engine: inputs decoded into
// shared memory (so a second thread can read them), each factor merged by the SIMD kernel and hashed
// (sha256) by the thread that made it, while it is in that thread's cache; the root is the sha256
// of the per-factor digests. Timed interleaved (measure.ts, 4 rounds) on the merge bench's modules:
// one thread on ordinary inputs, one thread on shared inputs, and two threads (this one and a worker,
// half of the factors each; the worker's outputs come back transferred, not copied). Each round
// checks that the split gives the one-thread root.
//   node scripts/experiments/split-merge.ts
// The kernel is internal to merge-core, so it is loaded by path (this file is that path's only user).
import { createHash } from 'node:crypto'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'

type Kernel = (xs: readonly Float32Array[], weights: readonly number[], out: Float32Array, end: number) => boolean
const kernelPath = new URL('../../packages/merge-core/src/merge/f32-simd.ts', import.meta.url).href
const { weightedSumSimd } = await import(kernelPath) as { weightedSumSimd: Kernel }

/** Merges and hashes factors [start, end): the outputs and their digests. */
function mergeRange (factors: Float32Array[][], weights: number[], start: number, end: number): { outs: Float32Array[], digests: Buffer[] } {
  const outs: Float32Array[] = []
  const digests: Buffer[] = []
  for (let i = start; i < end; i++) {
    const xs = factors[i]!
    const out = new Float32Array(xs[0]!.length)
    weightedSumSimd(xs, weights, out, out.length)
    outs.push(out)
    digests.push(createHash('sha256').update(new Uint8Array(out.buffer)).digest())
  }
  return { outs, digests }
}
const rootOf = (digests: Buffer[]): Buffer => createHash('sha256').update(Buffer.concat(digests)).digest()

if (!isMainThread) {
  const { factors, weights } = workerData as { factors: Float32Array[][], weights: number[] }
  parentPort!.on('message', ({ start, end }: { start: number, end: number }) => {
    const { outs, digests } = mergeRange(factors, weights, start, end)
    parentPort!.postMessage({ digests }, outs.map(o => o.buffer as ArrayBuffer))
  })
} else {
  const { compare, copyBaseline } = await import('../bench/measure.ts')
  const { clipModule } = await import('../bench/merge.ts')
  const n = 8
  const modules = Array.from({ length: n }, (_, i) => clipModule(16, i + 1))
  const plain = [...modules[0]!.layers.keys()].flatMap(layer => (['A', 'B'] as const).map(f => modules.map(m => m.layers.get(layer)![f].data)))
  const shared = plain.map(xs => xs.map(x => { const s = new Float32Array(new SharedArrayBuffer(x.byteLength)); s.set(x); return s }))
  const weights = modules.map(() => Math.fround(1 / n))
  const bytes = plain.length * n * plain[0]![0]!.byteLength
  const worker = new Worker(new URL(import.meta.url), { workerData: { factors: shared, weights } })
  const half = plain.length >> 1
  const serial = (factors: Float32Array[][]): Buffer => rootOf(mergeRange(factors, weights, 0, factors.length).digests)
  const split = async (): Promise<Buffer> => {
    const theirs = new Promise<{ digests: Uint8Array[] }>(resolve => worker.once('message', resolve))
    worker.postMessage({ start: half, end: shared.length })
    const mine = mergeRange(shared, weights, 0, half).digests
    return rootOf([...mine, ...(await theirs).digests.map(d => Buffer.from(d))])
  }
  const cells: Record<string, string[]> = { 'one thread, ordinary inputs': [], 'one thread, shared inputs': [], 'two threads, shared inputs': [] }
  for (let round = 0; round < 4; round++) {
    if (!serial(plain).equals(await split())) throw new Error('the split merge gave another root')
    for (const [name, run] of [['one thread, ordinary inputs', () => serial(plain)], ['one thread, shared inputs', () => serial(shared)], ['two threads, shared inputs', split]] as const) {
      const p = await compare(run, copyBaseline(bytes))
      cells[name]!.push(`${(p.subject.median * 1e3).toFixed(2)} ms (${(p.ratio.median * 100).toFixed(0)}%)`)
    }
  }
  console.log('| 8 x ViT-B/16 r=16, merge + per-factor sha256 | 4 rounds: ms (ratio to copy) |\n|---|---|')
  for (const [name, row] of Object.entries(cells)) console.log(`| ${name} | ${row.join(', ')} |`)
  await worker.terminate()
}
