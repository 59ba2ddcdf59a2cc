// The bench's pinned allocator (scripts/bench/pinned-allocator.ts): the re-run process starts with
// glibc's thresholds set (its initial environment, which glibc reads), while what it starts gets
// the machine's defaults again; --default-allocator and a user's own MALLOC_ setting are respected.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { PINNED_MALLOC } from '../scripts/bench/pinned-allocator.ts'

const dir = mkdtempSync(join(tmpdir(), 'pinned-allocator-'))
after(() => { rmSync(dir, { recursive: true, force: true }) })
const script = join(dir, 'probe.ts')
// Reports its pid, label, the MALLOC_ variables of its start-up environment and of a child it starts.
writeFileSync(script, `
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { allocatorLabel, runWithPinnedAllocator } from ${JSON.stringify(new URL('../scripts/bench/pinned-allocator.ts', import.meta.url).pathname)}
runWithPinnedAllocator(process.argv.includes('--default-allocator'))
const malloc = (env: string): string[] => env.split('\\0').filter(v => v.startsWith('MALLOC_')).sort()
const child = execFileSync(process.execPath, ['-e', 'process.stdout.write(require("node:fs").readFileSync("/proc/self/environ", "utf8"))'], { encoding: 'utf8' })
console.log(JSON.stringify({ pid: process.pid, label: allocatorLabel(), startup: malloc(readFileSync('/proc/self/environ', 'utf8')), child: malloc(child) }))
`)

interface Probe { pid: number, label: string, startup: string[], child: string[] }
function probe (args: string[], env: NodeJS.ProcessEnv = {}): Probe & { parent: number } {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MALLOC_') && k !== 'MEDFORGE_BENCH_PINNED_MALLOC'))
  const run = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', env: { ...clean, ...env } })
  assert.equal(run.status, 0, run.stderr)
  return { ...JSON.parse(run.stdout.trim()) as Probe, parent: run.pid ?? 0 }
}

describe('bench: pinned malloc thresholds', { skip: process.platform !== 'linux' ? 'glibc knobs: Linux only' : false }, () => {
  it('re-runs the script with the thresholds at start-up and gives its children the defaults', () => {
    const p = probe(['--quick'])
    assert.notEqual(p.pid, p.parent, 'the probe ran in a re-run process')
    assert.match(p.label, /pinned/)
    assert.deepEqual(p.startup, Object.entries(PINNED_MALLOC).map(([k, v]) => `${k}=${v}`).sort())
    assert.deepEqual(p.child, [])
  })

  it('--default-allocator and a MALLOC_ variable of the user run in place, with the defaults', () => {
    const flagged = probe(['--default-allocator'])
    assert.equal(flagged.pid, flagged.parent)
    assert.equal(flagged.label, 'default malloc')
    assert.deepEqual(flagged.startup, [])
    const own = probe([], { MALLOC_TOP_PAD_: '131072' })
    assert.equal(own.pid, own.parent)
    assert.equal(own.label, 'malloc as the environment sets it (MALLOC_TOP_PAD_)')
    assert.deepEqual(own.startup, ['MALLOC_TOP_PAD_=131072'])
    assert.deepEqual(own.child, ['MALLOC_TOP_PAD_=131072'])
  })
})
