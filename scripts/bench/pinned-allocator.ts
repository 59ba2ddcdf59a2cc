// glibc's malloc returns freed memory to the OS and maps large blocks afresh depending on what the
// process allocated before, so the same merge paid for faulting its output in on one run and not on
// the next: allocating and filling a 10x composite (48 blocks of 491 KB) took 1,201 page faults
// under the defaults and 105 with fixed thresholds, and the merge rows moved by up to a third
// between runs (BENCHMARKS.md, issue 16 parts 13 and 16). The bench therefore runs itself with
// fixed thresholds; the processes it starts (daemons, propagation hosts, the transfer server) get
// the machine's defaults again, as a deployed daemon has, so the memory rows are not inflated.
import { spawnSync } from 'node:child_process'

export const PINNED_MALLOC: Readonly<Record<string, string>> = {
  MALLOC_MMAP_THRESHOLD_: String(32 << 20), // glibc's largest accepted value; fixed, not adaptive
  MALLOC_TRIM_THRESHOLD_: String(256 << 20),
  MALLOC_TOP_PAD_: String(64 << 20)
}
const MARK = 'MEDFORGE_BENCH_PINNED_MALLOC'

let allocatorPinned = false

/** How this process's allocator is set, for the tables' headings. */
export function allocatorLabel (): string {
  if (allocatorPinned) return 'malloc thresholds pinned (mmap 32 MiB, trim 256 MiB, top pad 64 MiB)'
  const own = Object.keys(process.env).filter(k => k.startsWith('MALLOC_')).sort()
  return own.length === 0 ? 'default malloc' : `malloc as the environment sets it (${own.join(', ')})`
}

/**
 * Re-runs this script (same Node flags and arguments) with the pinned thresholds and exits with its
 * status; returns at once in that re-run, or where the knobs do not apply: not Linux, the caller
 * asked for the defaults, or the user set a MALLOC_ variable of their own.
 */
export function runWithPinnedAllocator (useDefaults: boolean): void {
  if (process.env[MARK] === '1') {
    allocatorPinned = true
    // glibc read them at start-up; children must not inherit them.
    for (const key of [MARK, ...Object.keys(PINNED_MALLOC)]) Reflect.deleteProperty(process.env, key)
    return
  }
  if (useDefaults || process.platform !== 'linux' || Object.keys(PINNED_MALLOC).some(k => process.env[k] !== undefined)) return
  const run = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, ...PINNED_MALLOC, [MARK]: '1' } })
  if (run.error !== undefined) throw run.error
  process.exit(run.status ?? 1)
}
