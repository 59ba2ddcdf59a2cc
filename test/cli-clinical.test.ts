// The clinical pipeline as a site runs it: shard, train (with distillation), evaluate.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseNpz } from '@medforge/clinical'
import { bin, root } from './support/testnet-fixture.ts'

const medforge = (...args: string[]): { status: number | null, stdout: string, stderr: string } => {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: root })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

describe('medforge data / train / eval', { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'medforge-clinical-'))

  it('shards, trains a bundle on a small subset, and evaluates it on the test split', () => {
    const shard = join(dir, 'breast-site.npz')
    const s = medforge('data', 'shard', '--task', 'breast', '--sites', '2', '--site', '1', '--alpha', '0.5', '--out', shard)
    assert.equal(s.status, 0, s.stderr)
    const arrays = parseNpz(readFileSync(shard), shard)
    assert.deepEqual([...arrays.keys()].sort(), ['train_images', 'train_labels', 'val_images', 'val_labels'])
    const out = join(dir, 'bundle')
    const t = medforge('train', '--task', 'breast', '--data', shard, '--max-train', '64', '--epochs', '1', '--batch', '32', '--ipc', '2', '--distill-iterations', '5', '--out', out)
    assert.equal(t.status, 0, t.stderr)
    assert.match(t.stdout, /epoch {2}1 {2}loss \d/)
    for (const f of ['adapter_config.json', 'adapter_model.safetensors', 'distilled.safetensors', 'medforge-module.json']) assert.ok(existsSync(join(out, f)), f)
    const meta = JSON.parse(readFileSync(join(out, 'medforge-module.json'), 'utf8')) as { task: string, samples: number }
    assert.deepEqual([meta.task, meta.samples], ['breast', 64])
    const e = medforge('eval', '--task', 'breast', out, '--json')
    assert.equal(e.status, 0, e.stderr)
    const m = JSON.parse(e.stdout) as { count: number, accuracy: number, auc: number, confusion: number[][] }
    assert.equal(m.count, 156)
    assert.ok(m.accuracy >= 0 && m.accuracy <= 1 && m.auc >= 0 && m.auc <= 1)
    assert.equal(m.confusion.flat().reduce((a, b) => a + b, 0), 156)
  })

  it('refuses bad input with a message: unknown task, corrupt shard, missing DP delta', () => {
    const unknown = medforge('train', '--task', 'retina', '--site', '0/1', '--out', join(dir, 'x'))
    assert.equal(unknown.status, 2, 'a usage error: the task needs the network\'s registry')
    assert.match(unknown.stderr, /unknown task "retina": give the network's manifest \(--manifest NET.json or --data-dir DIR\)/)
    const corrupt = join(dir, 'corrupt.npz')
    writeFileSync(corrupt, 'PK\u0003\u0004 this is not really a zip')
    const bad = medforge('train', '--task', 'breast', '--data', corrupt, '--out', join(dir, 'y'))
    assert.equal(bad.status, 1)
    assert.match(bad.stderr, /corrupt\.npz: invalid npz/)
    const dp = medforge('train', '--task', 'breast', '--site', '0/1', '--dp-epsilon', '1', '--out', join(dir, 'z'))
    assert.equal(dp.status, 2)
    assert.match(dp.stderr, /--dp-epsilon and --dp-delta go together/)
  })
})
