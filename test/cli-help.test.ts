// Every command and sub-command answers --help with its usage (exit 0); with --json, errors are
// JSON; usage errors exit 2; the command runs from a system Node older than 22 (npm link) by
// re-running itself on the checkout's pinned Node.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bin, root } from './support/testnet-fixture.ts'

const medforge = (...args: string[]): { status: number | null, stdout: string, stderr: string } => {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: root, env: { ...process.env, MEDFORGE_DATA_DIR: '' } })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

const COMMANDS = [
  ['adapter'], ['adapter', 'inspect'], ['adapter', 'merge'], ['keys'], ['keys', 'new'], ['network'], ['network', 'create'], ['network', 'join'],
  ['network', 'revise'], ['network', 'publish-revision'], ['init'], ['daemon'], ['address'], ['stop'], ['publish'], ['status'], ['composite'], ['composite', 'export'],
  ['data'], ['data', 'inspect'], ['data', 'shard'], ['train'], ['eval'], ['toy'], ['toy', 'module'], ['demo'], ['testnet']
]

describe('medforge --help, --json errors, exit codes', { timeout: 180_000 }, () => {
  for (const command of COMMANDS) {
    it(`medforge ${command.join(' ')} --help`, () => {
      for (const flag of ['--help', '-h']) {
        const r = medforge(...command, flag)
        assert.equal(r.status, 0, `${command.join(' ')} ${flag}: ${r.stderr}`)
        assert.match(r.stdout, new RegExp(`medforge ${command[0]}`), r.stdout)
        assert.equal(r.stderr, '')
      }
    })
  }

  it('with --json, a failure is one JSON object with a stable code, and the exit status says what kind', () => {
    const dir = mkdtempSync(join(tmpdir(), 'medforge-json-'))
    const notInit = medforge('status', '--data-dir', join(dir, 'nowhere'), '--json')
    assert.equal(notInit.status, 1)
    const e = JSON.parse(notInit.stderr) as { error: string, code: string, exitCode: number }
    assert.deepEqual([e.code, e.exitCode], ['ERR_API_REQUEST', 1])
    const usage = medforge('adapter', 'merge', '--method', 'ties', '--density', '1.5', '--out', join(dir, 'm'), dir, dir, '--json')
    assert.equal(usage.status, 2)
    assert.deepEqual([(JSON.parse(usage.stderr) as { code: string }).code], ['ERR_USAGE'])
    assert.match((JSON.parse(usage.stderr) as { error: string }).error, /--density must be a number in \(0, 1\]/)
    const plain = medforge('daemon', '--data-dir', dir, '--bootstrap', '')
    assert.equal(plain.status, 2)
    assert.match(plain.stderr, /--bootstrap "" is not a multiaddr/)
  })

  it('runs from a system Node older than 22 on the checkout\'s pinned Node (npm link)', (t) => {
    const old = ['/usr/bin/node', '/usr/local/bin/node'].find(p => existsSync(p) && Number(spawnSync(p, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }).stdout.trim()) < 22)
    if (old === undefined) { t.skip('no Node older than 22 on this machine'); return }
    const r = spawnSync(old, [bin, '--version'], { encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout.trim(), 'medforge 0.1.0')
  })
})
