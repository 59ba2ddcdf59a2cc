// A consortium that grows while it runs (issue 15): three daemons on a ViT network with two grey
// tasks; a revision adds a colour 5-class task and a fourth member; the revision is handed to one
// daemon and reaches the others by gossip; the new member joins, trains on its own (generated)
// colour data, publishes, and all four daemons converge on one root that includes its module.
// The other tasks' test metrics are reported before and after.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { VIT_ARCHITECTURE, loadBaseWeights, syntheticColourNpz } from '@medforge/clinical'
import { createLocalNetwork, spawnDaemon } from '@medforge/node'
import type { DaemonProcess, LocalNetwork } from '@medforge/node'
import { bin, root, waitFor } from './support/testnet-fixture.ts'

const medforge = (...args: string[]): { status: number | null, stdout: string, stderr: string } => {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: root })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}
const ok = (r: { status: number | null, stdout: string, stderr: string }, what: string): string => {
  assert.equal(r.status, 0, `${what}: ${r.stderr}`)
  return r.stdout
}

describe('a network that grows: a revision adds a task and a member while it runs', { timeout: 600_000 }, () => {
  let net: LocalNetwork
  const daemons: DaemonProcess[] = []
  const work = mkdtempSync(join(tmpdir(), 'medforge-growth-'))

  before(async () => {
    net = await createLocalNetwork({
      networkId: 'growth-test',
      name: 'Growth test',
      dir: join(work, 'net'),
      sites: [{ name: 'Hospital A' }, { name: 'Clinic C' }, { name: 'Hospital B' }],
      baseModel: { architecture: VIT_ARCHITECTURE, weights: loadBaseWeights().cid },
      tasks: [
        { id: 'pneumonia', modality: 'chest-xray', labels: ['normal', 'pneumonia'], metric: 'auc' },
        { id: 'breast', modality: 'breast-ultrasound', labels: ['malignant', 'normal-or-benign'], metric: 'auc' }
      ],
      lora: { targets: ['q_proj', 'v_proj'], rank: 4, alpha: 8 },
      merge: { method: 'linear', params: { weighting: 'uniform' } },
      quorum: 2,
      createdAt: Date.now()
    })
    daemons.push(await spawnDaemon(net.sites[0]!.dir, { extraArgs: ['--sync-interval', '1000'] }))
    for (const s of net.sites.slice(1)) daemons.push(await spawnDaemon(s.dir, { bootstrap: daemons[0]!.addresses, extraArgs: ['--sync-interval', '1000'] }))
  })

  after(async () => {
    await Promise.all(daemons.map(async d => { await d.kill() }))
  })

  const converged = async (moduleCount: number): Promise<string> => await waitFor(`${daemons.length} daemons on one root with ${moduleCount} modules`, async () => {
    const all = await Promise.all(daemons.map(async d => (await d.status()).networks[0]!))
    return new Set(all.map(s => s.stateRoot)).size === 1 && all.every(s => s.moduleCount === moduleCount && !s.merging) ? all[0]!.stateRoot : undefined
  }, 120_000)

  /** The composite's test ACC / AUC on each grey task, from an exported composite. */
  const metrics = (dir: string): Record<string, { accuracy: number, auc: number }> => {
    const out = join(work, `composite-${Date.now()}`)
    ok(medforge('composite', 'export', '--data-dir', dir, '--out', out), 'composite export')
    return Object.fromEntries(['pneumonia', 'breast'].map(task => [task, JSON.parse(ok(medforge('eval', '--task', task, out, '--json'), `eval ${task}`)) as { accuracy: number, auc: number }]))
  }

  it('grows by a colour task and a member, and every daemon merges the newcomer\'s module', async (t) => {
    // The founding sites publish (small, fast modules: the point here is the network).
    for (const [i, task, site] of [[0, 'pneumonia', '0/2'], [1, 'breast', '0/1'], [2, 'pneumonia', '1/2']] as const) {
      const out = join(work, `bundle-${i}`)
      ok(medforge('train', '--task', task, '--site', site, '--max-train', '300', '--epochs', '2', '--ipc', '2', '--distill-iterations', '5', '--out', out), `train ${i}`)
      ok(medforge('publish', out, '--data-dir', net.sites[i]!.dir), `publish ${i}`)
    }
    await converged(3)
    const before = metrics(net.sites[0]!.dir)

    // The newcomer: a key and a data directory of its own.
    const newcomer = join(work, 'eye-clinic')
    const peerId = /peer id +(\S+)/.exec(ok(medforge('init', '--data-dir', newcomer, '--name', 'Eye Clinic'), 'init'))?.[1] ?? ''
    assert.ok(peerId.length > 10)
    // The revision, made from a running member's chain, signed by a quorum (two of three).
    const revision = join(work, 'revision-1.json')
    ok(medforge('network', 'revise', '--data-dir', net.sites[0]!.dir, '--add-task', 'retina:fundus:0,1,2,3,4:auc:rgb', '--add-member', `${peerId}:Eye Clinic`, '--key', join(net.sites[0]!.dir, 'key.json'), '--out', revision), 'revise')
    ok(medforge('network', 'sign', revision, '--key', join(net.sites[1]!.dir, 'key.json')), 'sign')
    // Handed to one daemon: the other two apply it from gossip.
    ok(medforge('network', 'publish-revision', revision, '--data-dir', net.sites[2]!.dir), 'publish-revision')
    await waitFor('every founding daemon on revision 1', async () => (await Promise.all(daemons.map(async d => (await d.get('/status')).networks[0].revision as number))).every(r => r === 1) ? true : undefined, 30_000)

    // The newcomer joins with the chain, starts, trains on its colour images, publishes.
    ok(medforge('network', 'join', net.manifestPath, revision, '--data-dir', newcomer), 'join')
    daemons.push(await spawnDaemon(newcomer, { bootstrap: daemons[0]!.addresses, extraArgs: ['--sync-interval', '1000'] }))
    await converged(3)
    const npz = join(work, 'retina.npz')
    writeFileSync(npz, syntheticColourNpz({ classes: 5, counts: { train: 200, val: 40, test: 100 }, seed: 'eye clinic' }))
    const bundle = join(work, 'retina-bundle')
    ok(medforge('train', '--data-dir', newcomer, '--task', 'retina', '--data', npz, '--epochs', '3', '--ipc', '2', '--distill-iterations', '5', '--out', bundle), 'train retina')
    const retina = JSON.parse(ok(medforge('eval', '--data-dir', newcomer, '--task', 'retina', '--data', npz, bundle, '--json'), 'eval retina')) as { auc: number, accuracy: number }
    ok(medforge('publish', bundle, '--data-dir', newcomer), 'publish retina')
    const rootAfter = await converged(4)
    for (const d of daemons) {
      const modules = (await d.get('/modules')).modules as Array<{ task: string, status: string }>
      assert.ok(modules.some(m => m.task === 'retina' && m.status === 'ready'), `${d.url} merged the retina module`)
    }
    const afterGrowth = metrics(net.sites[1]!.dir)
    t.diagnostic(`root after growth ${rootAfter}`)
    t.diagnostic(`retina module alone: ACC ${retina.accuracy.toFixed(3)} AUC ${retina.auc.toFixed(3)}`)
    for (const task of ['pneumonia', 'breast']) t.diagnostic(`${task}: composite ACC/AUC before ${before[task]!.accuracy.toFixed(3)}/${before[task]!.auc.toFixed(3)}, after ${afterGrowth[task]!.accuracy.toFixed(3)}/${afterGrowth[task]!.auc.toFixed(3)}`)
    for (const task of ['pneumonia', 'breast']) assert.ok(afterGrowth[task]!.auc >= 0 && afterGrowth[task]!.auc <= 1)
  })
})
