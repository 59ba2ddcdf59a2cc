// Issue 16 experiment: what an elementwise merge's time is made of. For linear and task arithmetic
// at 8 and 32 ViT-B/16-sized modules (r=16, as the merge bench), times the whole merge
// (mergeModules: arithmetic, output allocation, state root), the state root alone (the sha256 of
// the composite, stateRoot on the merge's result) and the read floor (every input byte brought in
// once: each factor copied into one cache-resident 64 KiB buffer, as the SIMD kernel must before it
// can read it), each interleaved with a sustained copy of the inputs' bytes (measure.ts, 7 rounds).
// Reports the copy ratio of the whole merge, of the merge without its root, and the ceiling of any
// merge that reads its inputs once and hashes its composite on one thread: copy / (read + root).
//   node scripts/experiments/merge-breakdown.ts
import { canonicalMethod, mergeModules, moduleCid, stateRoot } from '@medforge/merge-core'
import type { MergeInput, MergeMethod } from '@medforge/merge-core'
import { compare, copyBaseline } from '../bench/measure.ts'
import { bytesOf, clipModule } from '../bench/merge.ts'

console.log('| modules | method | merge ms | state root ms | read floor ms | copy ms | merge / copy | merge without the root / copy | ceiling: copy / (read + root) |\n|---|---|---|---|---|---|---|---|---|')
for (const n of [8, 32]) {
  const modules = Array.from({ length: n }, (_, i) => clipModule(16, i + 1))
  const inputs: MergeInput[] = modules.map(module => ({ module, height: 0, cid: moduleCid(module) }))
  const bytes = modules.reduce((s, m) => s + bytesOf(m), 0)
  const window = new Float32Array(16384)
  const readOnce = (): void => { for (const m of modules) for (const { A, B } of m.layers.values()) { window.set(A.data); window.set(B.data) } }
  for (const method of [{ name: 'linear' }, { name: 'task-arithmetic' }] as MergeMethod[]) {
    const result = await mergeModules(inputs, method)
    const canonical = canonicalMethod(method)
    const cids = result.inputs.map(i => i.cid)
    const whole = await compare(async () => await mergeModules(inputs, method), copyBaseline(bytes))
    const root = await compare(() => stateRoot(canonical, cids, result.composite, result.weights), copyBaseline(bytes))
    const read = await compare(readOnce, copyBaseline(bytes))
    const copy = (whole.baseline.median + root.baseline.median + read.baseline.median) / 3
    const ms = (s: number): string => (s * 1e3).toFixed(2)
    const pct = (x: number): string => `${(100 * x).toFixed(0)}%`
    console.log(`| ${n} | ${method.name} | ${ms(whole.subject.median)} | ${ms(root.subject.median)} | ${ms(read.subject.median)} | ${ms(copy)} | ${pct(copy / whole.subject.median)} | ${pct(copy / (whole.subject.median - root.subject.median))} | ${pct(copy / (read.subject.median + root.subject.median))} |`)
  }
}
