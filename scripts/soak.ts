// The main job as a newcomer runs it, many times in a row: `npm start -- --exit` with the live
// table on a pseudo-terminal (util-linux `script`), optionally while a CPU hog keeps every core
// busy. Prints one line per run and a summary; writes the figures as JSON with --out.
//   node scripts/soak.ts [--runs 10] [--hog] [--out FILE] [-- extra testnet flags]
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { parseArgs, stripVTControlCharacters } from 'node:util'

const { values, positionals } = parseArgs({ options: { runs: { type: 'string' }, hog: { type: 'boolean' }, out: { type: 'string' } }, allowPositionals: true })
const runs = Number(values.runs ?? 10)
const root = join(import.meta.dirname, '..')
const strip = (s: string): string => stripVTControlCharacters(s).replace(/\r/g, '')

function startHog (): ChildProcess[] {
  // One busy loop per core, each its own process: the daemons compete for every core.
  return Array.from({ length: availableParallelism() }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }))
}

async function runOnce (): Promise<{ ok: boolean, seconds: number, root: string | null, tail: string }> {
  const t0 = performance.now()
  const command = ['npm', 'start', '--', '--exit', ...positionals].join(' ')
  // `script` gives the job a terminal, so the live table redraws in place as a user would see it.
  const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, COLUMNS: '160' } })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out = (out + d.toString()).slice(-400_000) })
  child.stderr.on('data', (d: Buffer) => { out = (out + d.toString()).slice(-400_000) })
  const code = await new Promise<number | null>(resolve => child.on('exit', c => resolve(c)))
  const text = strip(out)
  const attested = /all \d+ daemons attest state root (\S+)/.exec(text)
  return { ok: code === 0 && attested !== null, seconds: (performance.now() - t0) / 1000, root: attested?.[1] ?? null, tail: text.trimEnd().split('\n').slice(-25).join('\n') }
}

const hog = values.hog === true ? startHog() : []
const results: Array<{ run: number, ok: boolean, seconds: number, root: string | null }> = []
try {
  for (let i = 1; i <= runs; i++) {
    const r = await runOnce()
    results.push({ run: i, ok: r.ok, seconds: Math.round(r.seconds), root: r.root })
    console.log(`run ${i}/${runs}: ${r.ok ? 'ok' : 'FAILED'} in ${r.seconds.toFixed(0)} s${r.root === null ? '' : `, root ${r.root}`}`)
    if (!r.ok) console.log(r.tail.split('\n').map(l => `    ${l}`).join('\n'))
  }
} finally {
  for (const h of hog) h.kill('SIGKILL')
}
const seconds = results.map(r => r.seconds).sort((a, b) => a - b)
const summary = {
  date: new Date().toISOString(),
  hog: values.hog === true,
  cores: availableParallelism(),
  runs,
  ok: results.filter(r => r.ok).length,
  seconds: { median: seconds[Math.floor(seconds.length / 2)], min: seconds[0], max: seconds.at(-1) },
  results
}
console.log(`${summary.ok} of ${runs} runs converged${summary.hog ? ' (CPU hog on every core)' : ''}; seconds median ${summary.seconds.median}, min ${summary.seconds.min}, max ${summary.seconds.max}`)
if (values.out !== undefined) writeFileSync(values.out, JSON.stringify(summary, null, 2) + '\n')
process.exitCode = summary.ok === runs ? 0 : 1
