// `medforge testnet` (npm start) end to end, in a reduced configuration: three institutions train
// on small shards, publish, and every daemon converges; the summary carries sane clinical metrics.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs'
import { decodeDistilledSet } from '@medforge/merge-core'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bin, root } from './support/testnet-fixture.ts'

describe('medforge testnet', { timeout: 240_000 }, () => {
  it('converges and reports test metrics for every site and the composite', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'medforge-testnet-test-')), 'net')
    const r = spawnSync(process.execPath, [bin, 'testnet', '--exit', '--json', '--dir', dir, '--epochs', '1', '--max-train', '96', '--ipc', '2', '--distill-iterations', '10', '--fusion-budget', '8'],
      { cwd: root, encoding: 'utf8', timeout: 200_000 })
    assert.equal(r.status, 0, r.stderr + r.stdout.slice(-2000))
    const summary = JSON.parse(r.stdout) as {
      converged: boolean, stateRoot: string, method: string, dir: string,
      institutions: Array<{ name: string, task: string, test: { accuracy: number, auc: number } }>,
      composite: Record<string, { accuracy: number, auc: number }>, dashboards: Array<{ url: string }>,
      againstBestSite: Record<string, { bestSite: number, composite: number, gap: number }>
    }
    assert.equal(summary.converged, true)
    assert.match(summary.stateRoot, /^bafkrei/)
    assert.equal(summary.method, 'medforge-regmean')
    for (const task of ['pneumonia', 'breast']) {
      const g = summary.againstBestSite[task]!
      assert.equal(g.bestSite, Math.max(...summary.institutions.filter(i => i.task === task).map(i => i.test.auc)))
      assert.equal(g.gap, summary.composite[task]!.auc - g.bestSite)
    }
    assert.deepEqual(summary.institutions.map(i => [i.name, i.task]), [['Hospital A', 'pneumonia'], ['Hospital B', 'pneumonia'], ['Clinic C', 'breast']])
    const inUnit = (x: number): boolean => x >= 0 && x <= 1
    for (const i of summary.institutions) assert.ok(inUnit(i.test.accuracy) && inUnit(i.test.auc), JSON.stringify(i))
    assert.deepEqual(Object.keys(summary.composite).sort(), ['breast', 'pneumonia'])
    for (const m of Object.values(summary.composite)) assert.ok(inUnit(m.accuracy) && inUnit(m.auc), JSON.stringify(m))
    assert.equal(summary.dashboards.length, 3)
    assert.ok(existsSync(join(dir, 'manifest.json')))
    // Each site ships its layers' input statistics with its distilled set (what RegMean merges by).
    const set = decodeDistilledSet(readFileSync(join(dir, 'hospital-a', 'bundle', 'distilled.safetensors')), 'distilled', { classes: 2 })
    assert.equal(set.inputGrams?.size, 8)
  })

  it('--late-task: a revision adds a colour 5-class task and an institution while the network runs; it joins, trains, publishes and is merged; without --dir its files go when it ends', () => {
    const temp = mkdtempSync(join(tmpdir(), 'medforge-testnet-late-'))
    const r = spawnSync(process.execPath, [bin, 'testnet', '--exit', '--json', '--late-task', '--institutions', '2', '--method', 'linear', '--epochs', '1', '--max-train', '96', '--ipc', '2', '--distill-iterations', '10'],
      { cwd: root, encoding: 'utf8', timeout: 200_000, env: { ...process.env, TMPDIR: temp } })
    assert.equal(r.status, 0, r.stderr + r.stdout.slice(-2000))
    const summary = JSON.parse(r.stdout) as {
      dir: string,
      institutions: Array<{ name: string, task: string, test: { accuracy: number, auc: number } }>,
      composite: Record<string, { accuracy: number, auc: number }>, compositeBeforeLateSite: Record<string, { accuracy: number, auc: number } | null>, dashboards: unknown[]
    }
    assert.deepEqual(summary.institutions.map(i => [i.name, i.task]), [['Hospital A', 'pneumonia'], ['Hospital B', 'pneumonia'], ['Eye Clinic K', 'fundus']])
    assert.deepEqual(Object.keys(summary.composite).sort(), ['fundus', 'pneumonia'])
    assert.ok(summary.composite.fundus!.auc > 0.8, `the newcomer's task is served by the composite: ${JSON.stringify(summary.composite.fundus)}`)
    assert.ok(summary.compositeBeforeLateSite.pneumonia!.auc > 0, 'the other task is reported before and after')
    assert.equal(summary.dashboards.length, 3)
    assert.ok(summary.dir.startsWith(temp), `the testnet ran in ${summary.dir}, a temporary directory`)
    assert.deepEqual(readdirSync(temp), [], 'nothing is left behind')
  })

  it('refuses bad flags with status 2', () => {
    const r = spawnSync(process.execPath, [bin, 'testnet', '--institutions', '11'], { cwd: root, encoding: 'utf8' })
    assert.equal(r.status, 2)
    assert.match(r.stderr, /1 to 10/)
  })
})
