// Runs node's test runner on the given files with TMPDIR set to one fresh directory, removed when
// every test passed (kept, and named, when one failed): each test, daemon and testnet it starts
// makes its temporary files there, so a run leaves nothing behind in the system's temporary
// directory (a full `npm test` used to leave about 40 directories, testnets of 100 MB among them).
//   node scripts/run-tests.ts <file or glob>...
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const dir = mkdtempSync(join(tmpdir(), 'medforge-tests-'))
const run = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...process.argv.slice(2)], { stdio: 'inherit', env: { ...process.env, TMPDIR: dir } })
if (run.status === 0) rmSync(dir, { recursive: true, force: true })
else console.error(`\nthe tests' temporary files are kept in ${dir}`)
process.exit(run.status ?? 1)
