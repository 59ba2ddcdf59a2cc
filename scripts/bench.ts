// npm run bench — everything measured side by side in one run, printed as tables and appended to
// BENCHMARKS.md with the date and machine. About 9 minutes on 2 cores.
//   node scripts/bench.ts [--quick] [--no-append] [--json FILE] [--default-allocator] [--only merge,state-root,transfer,propagation,propagation-scale,search,training,memory,responsiveness]
// The bench runs itself with glibc's malloc thresholds pinned (bench/pinned-allocator.ts), unless
// --default-allocator or a MALLOC_ variable of the user's own says otherwise.
// propagation-scale (10, 20 and 50 daemons over 6 processes, about 15 minutes) runs only when named.
// --json FILE also writes every table as JSON (each row an object keyed by the table's columns;
// the merge and transfer rows with their medians, ranges and sample counts).
import { appendFileSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { MERGE_HEADER, benchMerge } from './bench/merge.ts'
import { allocatorLabel, runWithPinnedAllocator } from './bench/pinned-allocator.ts'
import { STATE_ROOT_HEADER, benchStateRoot } from './bench/state-root.ts'
import { TRANSFER_HEADER, benchTransfer } from './bench/transfer.ts'
import { PROPAGATION_HEADER, benchPropagation } from './bench/propagation.ts'
import { PROPAGATION_SCALE_HEADER, benchPropagationScale } from './bench/propagation-scale.ts'
import { SEARCH_HEADER, TRAINING_HEADER, benchSearch, benchTraining } from './bench/model.ts'
import { MEMORY_HEADER, benchMemory } from './bench/memory.ts'
import { RESPONSIVENESS_HEADER, benchResponsiveness } from './bench/responsiveness.ts'

// A known library error (Yamux sending a window update on a connection that has just closed, thrown
// from a microtask) would end the whole run while in-process daemons churn connections: it is
// logged, as the daemon command does. Anything else still stops the run.
process.on('uncaughtException', err => {
  if (err.name === 'StreamStateError') { console.error(`bench: a stray stream error, ignored: ${err.message}`); return }
  console.error(err)
  process.exit(1)
})

const { values } = parseArgs({ options: { quick: { type: 'boolean' }, 'no-append': { type: 'boolean' }, only: { type: 'string' }, json: { type: 'string' }, 'default-allocator': { type: 'boolean' } } })
runWithPinnedAllocator(values['default-allocator'] === true)
const quick = values.quick === true
const only = values.only === undefined ? undefined : new Set(values.only.split(','))
const machine = `node ${process.version}, ${cpus().length} x ${cpus()[0]?.model.trim() ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${allocatorLabel()}`
const structured: Record<string, unknown[]> = { merge: [], 'state-root': [], transfer: [] }
// optIn: minutes of many daemons on one machine; runs only when --only names it.
const sections: Array<{ key: string, title: string, header: string, run: () => Promise<string[]>, optIn?: true }> = [
  { key: 'merge', title: 'Merge throughput vs sustained memory copy, interleaved, median of 7 rounds (target: >= 50% of copy for the elementwise methods)', header: MERGE_HEADER, run: async () => await benchMerge(quick, console.log, structured.merge as never) },
  { key: 'state-root', title: 'State root: the sha256 of a composite vs node:crypto sha256 of as many bytes, and a whole merge with its root vs the copy of its inputs, interleaved, median of 7 rounds', header: STATE_ROOT_HEADER, run: async () => await benchStateRoot(quick, console.log, structured['state-root'] as never) },
  { key: 'transfer', title: 'Blob transfer: libp2p fetch (Noise + Yamux over TCP, hash verified) vs raw TCP in the same processes, median of 7 rounds (target: >= 40%)', header: TRANSFER_HEADER, run: async () => await benchTransfer(quick, console.log, structured.transfer!) },
  { key: 'propagation', title: 'Propagation: publish → every daemon merged and attested (in-process daemons, toy module)', header: PROPAGATION_HEADER, run: async () => await benchPropagation(quick) },
  { key: 'propagation-scale', title: 'Propagation at scale: daemons spread over 6 OS processes, publish → every daemon merged and attested (toy module), p50/p95 of 20 publications', header: PROPAGATION_SCALE_HEADER, run: async () => await benchPropagationScale({ sizes: quick ? [10] : [10, 20, 50], processes: 6, methods: quick ? ['linear'] : ['linear', 'medforge-fusion'], publications: quick ? 5 : 20, idleMs: 10_000 }), optIn: true },
  { key: 'search', title: 'One MedForge-Fusion step on the clinical model (3 contributors x 20 distilled images)', header: SEARCH_HEADER, run: async () => await benchSearch() },
  { key: 'training', title: 'LoRA training throughput (rank 4, q_proj + v_proj, batch 64)', header: TRAINING_HEADER, run: async () => await benchTraining(quick) },
  { key: 'memory', title: 'Daemon memory', header: MEMORY_HEADER, run: async () => await benchMemory() },
  { key: 'responsiveness', title: 'API latency while merging: /status during a MedForge-Fusion fold on the compute threads (target: p99 < 250 ms)', header: RESPONSIVENESS_HEADER, run: async () => await benchResponsiveness() }
]
const out: string[] = [`### npm run bench — ${new Date().toISOString().slice(0, 10)}, ${machine}${quick ? ' (quick)' : ''}`, '']
const started = performance.now()
const tables: Record<string, unknown> = {}
/** A markdown table's rows as objects keyed by its header's columns. */
const asObjects = (header: string, rows: string[]): Array<Record<string, string>> => {
  const cells = (line: string): string[] => line.split('|').slice(1, -1).map(c => c.trim())
  const names = cells(header.split('\n')[0]!)
  return rows.map(r => Object.fromEntries(cells(r).map((c, i) => [names[i] ?? `column ${i}`, c])))
}
for (const s of sections) {
  if (only !== undefined ? !only.has(s.key) : s.optIn === true) continue
  console.log(`\n${s.title}\n\n${s.header}`)
  const t0 = performance.now()
  const rows = await s.run()
  out.push(`**${s.title}** (${((performance.now() - t0) / 1000).toFixed(0)} s)`, '', s.header, ...rows, '')
  tables[s.key] = { title: s.title, rows: asObjects(s.header, rows), ...(structured[s.key] === undefined ? {} : { measurements: structured[s.key] }) }
}
if (values.json !== undefined) {
  writeFileSync(values.json, JSON.stringify({ date: new Date().toISOString(), machine, quick, sections: tables }, null, 2) + '\n')
  console.log(`\nwrote ${values.json}`)
}
out.push(`Whole run: ${((performance.now() - started) / 1000).toFixed(0)} s.`, '')
if (values['no-append'] !== true) {
  appendFileSync(join(import.meta.dirname, '..', 'BENCHMARKS.md'), '\n' + out.join('\n'))
  console.log('\nappended to BENCHMARKS.md')
}
