// npm run bench:merge — merge throughput alone (npm run bench runs it with everything else).
//   node scripts/bench-merge.ts [--quick] [--no-append]
import { appendFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { MERGE_HEADER, benchMerge } from './bench/merge.ts'

const quick = process.argv.includes('--quick')
const append = !process.argv.includes('--no-append')
console.log(MERGE_HEADER)
const rows = await benchMerge(quick)
if (append && !quick) {
  const header = `\n### bench:merge — ${new Date().toISOString().slice(0, 10)}, node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? '?'}\n\n${MERGE_HEADER}\n`
  appendFileSync(join(import.meta.dirname, '..', 'BENCHMARKS.md'), header + rows.join('\n') + '\n')
}
