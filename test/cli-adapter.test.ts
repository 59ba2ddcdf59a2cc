// The `medforge` CLI as a user runs it: a separate process, real files.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { readPeftAdapter, moduleCid } from '@medforge/merge-core'

const root = join(import.meta.dirname, '..')
const bin = join(root, 'packages', 'node', 'bin', 'medforge.js')
const fixtures = join(root, 'packages', 'merge-core', 'test', 'fixtures')
const golden = JSON.parse(readFileSync(join(fixtures, 'golden.json'), 'utf8')) as { moduleCids: string[] }
const site = (i: number): string => join(fixtures, 'toy', `site-${i}`)

function medforge (...args: string[]): { status: number | null, stdout: string, stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: root })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

function filesOf (dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>()
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name)
      if (statSync(p).isDirectory()) walk(p)
      else out.set(relative(dir, p), readFileSync(p))
    }
  }
  walk(dir)
  return out
}

describe('medforge CLI', () => {
  it('--help lists the commands', () => {
    const r = medforge('--help')
    assert.equal(r.status, 0)
    assert.match(r.stdout, /adapter inspect/)
    assert.match(r.stdout, /adapter merge/)
  })

  it('adapter inspect --json reports the module as the library sees it', () => {
    const r = medforge('adapter', 'inspect', site(0), '--json')
    assert.equal(r.status, 0, r.stderr)
    const info = JSON.parse(r.stdout)
    assert.equal(info.cid, golden.moduleCids[0])
    assert.equal(info.rank, 2)
    assert.equal(info.alpha, 4)
    assert.deepEqual(info.targets, ['encoder'])
    assert.equal(info.parameters, 2 * 8 + 6 * 2)
    assert.equal(info.tensors, 4)
    assert.deepEqual(info.dtypes, ['F32'])
  })

  it('adapter merge gives byte-identical output for the same inputs in any order', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'medforge-cli-'))
    const orders = [[0, 1, 2], [2, 0, 1], [1, 2, 0]]
    const outputs = orders.map((order, k) => {
      const out = join(tmp, `out-${k}`)
      const r = medforge('adapter', 'merge', '--method', 'dare', '--density', '0.6', '--out', out, ...order.map(site))
      assert.equal(r.status, 0, r.stderr)
      assert.match(r.stdout, /state root bafkrei[a-z2-7]+/)
      return { files: filesOf(out), root: /state root (\S+)/.exec(r.stdout)![1] }
    })
    for (const o of outputs.slice(1)) {
      assert.equal(o.root, outputs[0]!.root)
      assert.deepEqual([...o.files.keys()].sort(), [...outputs[0]!.files.keys()].sort())
      for (const [name, bytes] of o.files) assert.ok(bytes.equals(outputs[0]!.files.get(name)!), `${name} differs`)
    }
    // the output is itself a loadable PEFT adapter, one task head per input
    const merged = readPeftAdapter(join(tmp, 'out-0'))
    assert.equal(merged.module.heads.size, 0)
    assert.equal(merged.metadata['medforge.state_root'], outputs[0]!.root)
    assert.equal(readdirSync(join(tmp, 'out-0', 'task_heads')).length, 3)
    assert.notEqual(moduleCid(merged.module), golden.moduleCids[0])
  })

  it('weights follow their inputs when the order changes', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'medforge-cli-'))
    const a = medforge('adapter', 'merge', '--method', 'linear', '--weights', '0.75,0.25', '--out', join(tmp, 'a'), site(0), site(1), '--json')
    const b = medforge('adapter', 'merge', '--method', 'linear', '--weights', '0.25,0.75', '--out', join(tmp, 'b'), site(1), site(0), '--json')
    const c = medforge('adapter', 'merge', '--method', 'linear', '--weights', '0.75,0.25', '--out', join(tmp, 'c'), site(1), site(0), '--json')
    assert.equal(a.status, 0, a.stderr)
    assert.equal(JSON.parse(a.stdout).stateRoot, JSON.parse(b.stdout).stateRoot)
    assert.notEqual(JSON.parse(a.stdout).stateRoot, JSON.parse(c.stdout).stateRoot)
  })

  it('refuses mismatched adapters naming the difference, and bad usage with status 2', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'medforge-cli-'))
    const mismatch = medforge('adapter', 'merge', '--method', 'linear', '--out', join(tmp, 'x'), site(0), join(fixtures, 'peft-style'))
    assert.equal(mismatch.status, 1)
    assert.match(mismatch.stderr, /base_model_name_or_path differs: .*site-0 has .*peft-style has "openai\/clip-vit-base-patch16"/)
    assert.equal(medforge('adapter', 'merge', '--method', 'medforge-fusion', '--out', 'x', site(0)).status, 2)
    assert.equal(medforge('adapter', 'merge', '--method', 'linear', site(0)).status, 2)
    assert.equal(medforge('adapter', 'merge', '--method', 'linear', '--weights', '1', '--out', 'x', site(0), site(1)).status, 2)
    assert.equal(medforge('nonsense').status, 2)
    const missing = medforge('adapter', 'inspect', join(tmp, 'nope'))
    assert.equal(missing.status, 1)
    assert.match(missing.stderr, /nope: invalid PEFT LoRA adapter: no such file or folder/)
  })

  it('the demo shows every method agreeing across arrival orders', () => {
    const r = medforge('demo', '--json')
    assert.equal(r.status, 0, r.stderr)
    const { composites } = JSON.parse(r.stdout) as { composites: Array<{ method: string, ordersAgree: boolean }> }
    assert.deepEqual(composites.map(c => c.method), ['linear', 'ties', 'dare', 'medforge-fusion', 'medforge-regmean'])
    assert.ok(composites.every(c => c.ordersAgree))
  })
})
