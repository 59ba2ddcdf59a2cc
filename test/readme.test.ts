// The README as a newcomer pastes it. Every shell block carries a mark: `doc-test: run` blocks are
// run line by line, in a fresh directory inside the checkout (where `npx medforge` finds the
// command), stopping at the first line that fails; `doc-test: skip REASON` blocks say why they
// cannot run here (placeholders for a real consortium, minutes of training) and which test runs
// their commands instead. A new block without a mark fails this test.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { root } from './support/testnet-fixture.ts'

interface Block { readonly mark: string | undefined, readonly line: number, readonly commands: string[] }

function shellBlocks (markdown: string): Block[] {
  const lines = markdown.split('\n')
  const blocks: Block[] = []
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== '```sh') continue
    const mark = /^<!-- doc-test: (.*) -->$/.exec(lines[i - 1] ?? '')?.[1]
    const body: string[] = []
    let j = i + 1
    for (; lines[j] !== '```'; j++) body.push(lines[j]!)
    // One command per logical line: continuation lines joined, comment-only lines dropped.
    const commands = body.join('\n').replace(/\\\n\s*/g, ' ').split('\n').filter(l => l.trim() !== '' && !l.trim().startsWith('#'))
    blocks.push({ mark, line: i + 1, commands })
    i = j
  }
  return blocks
}

/** Runs the commands in one bash, each checked before the next; background lines (`&`) as written. */
async function runBlock (commands: readonly string[], cwd: string): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const script = commands.map((c, i) => c.trimEnd().endsWith('&')
    ? c
    : `${c}\nrc=$?; if [ $rc -ne 0 ]; then echo "doc-test: line ${i + 1} exited $rc: ${c.replace(/[`$"\\]/g, '\\$&')}" >&2; kill $(jobs -p) 2>/dev/null; wait; exit 1; fi`).join('\n')
  const child = spawn('bash', ['-c', script], { cwd, detached: true, env: { ...process.env, NO_COLOR: '1' } })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const killGroup = (): void => {
    try { process.kill(-child.pid!, 'SIGKILL') } catch { /* already gone */ }
  }
  const timer = setTimeout(killGroup, 240_000)
  const code = await new Promise<number | null>(resolve => child.on('exit', resolve))
  clearTimeout(timer)
  killGroup() // anything the block left running
  return { code, stdout, stderr }
}

describe('README shell blocks, as a newcomer pastes them', { timeout: 600_000 }, () => {
  const blocks = shellBlocks(readFileSync(join(root, 'README.md'), 'utf8'))

  it('every shell block is marked: run, or skip with the reason', () => {
    assert.ok(blocks.length >= 5)
    for (const b of blocks) assert.match(b.mark ?? '', /^(run( [a-z-]+)?|skip \S.{10,})$/, `README.md line ${b.line}: mark the block <!-- doc-test: run --> or <!-- doc-test: skip REASON -->`)
  })

  for (const b of blocks.filter(x => x.mark?.startsWith('run') === true)) {
    it(`runs the block at README.md line ${b.line}${b.mark === 'run' ? '' : ` (${b.mark!.slice(4)})`}`, async () => {
      mkdirSync(join(root, '.doc-test'), { recursive: true })
      const dir = mkdtempSync(join(root, '.doc-test', 'block-'))
      try {
        const r = await runBlock(b.commands, dir)
        assert.equal(r.code, 0, `${r.stderr.slice(-3000)}\n${r.stdout.slice(-1500)}`)
        if (b.mark === 'run two-daemons') {
          // What the block promises: both daemons report the same state root over both modules.
          const roots = [...r.stdout.matchAll(/state root (\S+) +height \d+, (\d+) module/g)]
          assert.equal(roots.length, 2, r.stdout)
          assert.equal(roots[0]![1], roots[1]![1], 'the same state root on both daemons')
          assert.deepEqual(roots.map(m => m[2]), ['2', '2'])
          // A clean stop removes api.json: a later run cannot dial a dead daemon's address.
          for (const d of ['a', 'b']) assert.equal(existsSync(join(dir, d, 'api.json')), false, `${d}/api.json after a clean stop`)
        }
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    })
  }
})
