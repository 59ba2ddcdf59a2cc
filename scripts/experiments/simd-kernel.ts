// Issue 16 experiment: two versions of the SIMD weighted-sum kernel (f32-simd.ts files), timed
// interleaved in one process on the merge bench's modules (ViT-B/16 q+v r=16: 48 factors of 12,288
// floats per module), each round next to a sustained copy of the inputs' bytes (measure.ts). Each
// version is checked to give the other's bits first.
//   git show 6161cbb:packages/merge-core/src/merge/f32-simd.ts > /tmp/f32-simd-before.ts
//   node scripts/experiments/simd-kernel.ts /tmp/f32-simd-before.ts packages/merge-core/src/merge/f32-simd.ts
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { compare, copyBaseline } from '../bench/measure.ts'
import { clipModule } from '../bench/merge.ts'

type Kernel = (xs: readonly Float32Array[], weights: readonly number[], out: Float32Array, end: number) => boolean
const paths = process.argv.slice(2)
if (paths.length !== 2) throw new Error('usage: simd-kernel.ts BEFORE.ts AFTER.ts (two f32-simd.ts files)')
const kernels: Kernel[] = []
for (const path of paths) kernels.push((await import(pathToFileURL(resolve(path)).href) as { weightedSumSimd: Kernel }).weightedSumSimd)

console.log('| modules | before ms (ratio to copy), 4 rounds | after ms (ratio to copy), 4 rounds | after / before, median |\n|---|---|---|---|')
for (const n of [2, 8, 32]) {
  const modules = Array.from({ length: n }, (_, i) => clipModule(16, i + 1))
  const factors = [...modules[0]!.layers.keys()].flatMap(layer => (['A', 'B'] as const).map(f => modules.map(m => m.layers.get(layer)![f].data)))
  const weights = modules.map((_, i) => Math.fround(1 / (i + 2)))
  const bytes = factors.length * n * factors[0]![0]!.byteLength
  const run = (k: Kernel) => (): Float32Array[] => factors.map(xs => { const out = new Float32Array(xs[0]!.length); k(xs, weights, out, out.length); return out })
  const [a, b] = [run(kernels[0]!)(), run(kernels[1]!)()]
  a.forEach((t, i) => { if (!Buffer.from(t.buffer).equals(Buffer.from(b[i]!.buffer))) throw new Error(`the kernels disagree on factor ${i} at ${n} modules`) })
  const times: number[][] = [[], []]
  const cells: string[][] = [[], []]
  for (let round = 0; round < 4; round++) {
    for (const which of [0, 1]) {
      const p = await compare(run(kernels[which]!), copyBaseline(bytes))
      times[which]!.push(p.subject.median)
      cells[which]!.push(`${(p.subject.median * 1e3).toFixed(2)} (${(p.ratio.median * 100).toFixed(0)}%)`)
    }
  }
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[xs.length >> 1]!
  console.log(`| ${n} | ${cells[0]!.join(', ')} | ${cells[1]!.join(', ')} | ${(median(times[1]!) / median(times[0]!)).toFixed(2)} |`)
}
