// npm run bench:merge — merge throughput and the state root alone (npm run bench runs them with everything else).
//   node scripts/bench-merge.ts [--quick] [--no-append] [--default-allocator]   (malloc pinned as in bench.ts)
import { appendFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { MERGE_HEADER, benchMerge } from './bench/merge.ts'
import { allocatorLabel, runWithPinnedAllocator } from './bench/pinned-allocator.ts'
import { STATE_ROOT_HEADER, benchStateRoot } from './bench/state-root.ts'

const quick = process.argv.includes('--quick')
const append = !process.argv.includes('--no-append')
runWithPinnedAllocator(process.argv.includes('--default-allocator'))
console.log(MERGE_HEADER)
const rows = await benchMerge(quick)
console.log(`\n${STATE_ROOT_HEADER}`)
const rootRows = await benchStateRoot(quick)
if (append && !quick) {
  const header = `\n### bench:merge — ${new Date().toISOString().slice(0, 10)}, node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? '?'}, ${allocatorLabel()}\n\n${MERGE_HEADER}\n`
  appendFileSync(join(import.meta.dirname, '..', 'BENCHMARKS.md'), header + rows.join('\n') + `\n\n${STATE_ROOT_HEADER}\n` + rootRows.join('\n') + '\n')
}
