// The state root next to its own limit: a merge's root is the sha256 of its composite (with the
// method and the input CIDs), so it is timed against node:crypto's sha256 of as many preallocated
// bytes; and the whole merge with its root (what a daemon runs) against the copy of its inputs'
// bytes, the merge table's baseline. Interleaved, as every ratio here (measure.ts).
import { createHash } from 'node:crypto'
import { mergeModules, moduleCid, stateRoot } from '@medforge/merge-core'
import type { MergeInput, MergeMethod } from '@medforge/merge-core'
import { compare, copyBaseline, formatStats } from './measure.ts'
import type { Stats } from './measure.ts'
import { bytesOf, clipModule } from './merge.ts'

export const STATE_ROOT_HEADER = '| module | subject | subject ms, median [min–max] | baseline | baseline ms | subject / baseline (speed), median [min–max] |\n|---|---|---|---|---|---|'

export interface StateRootRowJson { module: string, subject: string, baseline: string, subjectSeconds: Stats, baselineSeconds: Stats, ratio: Stats }

export async function benchStateRoot (quick: boolean, log: (line: string) => void = console.log, json: StateRootRowJson[] = []): Promise<string[]> {
  const sizes = quick ? [{ rank: 16, label: 'ViT-B/16 q+v r=16' }] : [{ rank: 16, label: 'ViT-B/16 q+v r=16' }, { rank: 160, label: '10x (r=160)' }]
  const rows: string[] = []
  const emit = async (label: string, subject: string, run: () => unknown, baseline: string, base: () => unknown): Promise<void> => {
    const p = await compare(run, base, { rounds: quick ? 5 : 7 })
    const row = `| ${label} | ${subject} | ${formatStats(p.subject, 1e3, 2)} | ${baseline} | ${(p.baseline.median * 1e3).toFixed(2)} | ${formatStats(p.ratio, 100, 0)}% |`
    log(row)
    rows.push(row)
    json.push({ module: label, subject, baseline, subjectSeconds: p.subject, baselineSeconds: p.baseline, ratio: p.ratio })
  }
  for (const size of sizes) {
    const n = 8
    const modules = Array.from({ length: n }, (_, i) => clipModule(size.rank, i + 1))
    const inputs: MergeInput[] = modules.map(module => ({ module, height: 0, cid: moduleCid(module) }))
    const method: MergeMethod = { name: 'linear' }
    const merged = await mergeModules(inputs, method)
    const cids = merged.inputs.map(i => i.cid)
    const compositeBytes = bytesOf(modules[0]!)
    const bytes = Buffer.alloc(compositeBytes, 1)
    const mb = (compositeBytes / 1e6).toFixed(2)
    await emit(size.label, `state root of an ${n}-module linear composite (${mb} MB)`, () => stateRoot(merged.method, cids, merged.composite, merged.weights),
      `node:crypto sha256 of ${mb} MB`, () => createHash('sha256').update(bytes).digest())
    await emit(size.label, `${n}-module linear merge with its state root`, async () => await mergeModules(inputs, method),
      `copy of the inputs' ${(n * compositeBytes / 1e6).toFixed(1)} MB`, copyBaseline(n * compositeBytes))
  }
  return rows
}
