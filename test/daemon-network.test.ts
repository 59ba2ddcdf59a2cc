// Five institution daemons as separate processes on loopback: asynchronous publication in random
// order, convergence to the root merge-core computes directly, a late joiner, a kill -9 restart,
// and hostile input (non-member, forged signature, wrong blob bytes, non-member connection).
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { ToyModel, decodeDistilledSet, mergeModules, moduleCid, readPeftAdapter } from '@medforge/merge-core'
import type { MergeInput, MergeMethod, ToyData } from '@medforge/merge-core'
import { readFileSync } from 'node:fs'
import { agreeOn, createTestnet, makeBundle, root, bin, startDaemon, waitFor } from './support/testnet-fixture.ts'
import type { RunningDaemon, Testnet } from './support/testnet-fixture.ts'
import { runHostilePeer } from './support/hostile-peer.ts'

/** Seeded so a failing order can be replayed: MEDFORGE_TEST_SEED=<n>. */
const seed = Number(process.env.MEDFORGE_TEST_SEED ?? Date.now() % 100000)
let rngState = seed
const random = (): number => { rngState = (rngState * 1103515245 + 12345) % 2147483648; return rngState / 2147483648 }

interface ModuleView { cid: string, height: number, status: string, task: string, author: string }

/**
 * The root merge-core computes directly from the bundle files and the heights the network assigned;
 * a module on the network names its publisher as author (part of its CID), as the daemon wrote it.
 */
async function expectedRoot (bundles: string[], modules: ModuleView[], method: MergeMethod): Promise<string> {
  const model = new ToyModel()
  const authors = [...new Set(modules.map(m => m.author))]
  const byCid = new Map(bundles.flatMap(dir => {
    const { module: plain } = readPeftAdapter(dir)
    return authors.map(author => { const module = { ...plain, author }; return [moduleCid(module), { dir, module }] as const })
  }))
  const inputs: MergeInput<ToyData>[] = modules.filter(m => m.status === 'ready').map(m => {
    const b = byCid.get(m.cid)
    assert.ok(b !== undefined, `module ${m.cid} is not one of the published bundles`)
    const set = decodeDistilledSet(readFileSync(join(b.dir, 'distilled.safetensors')), b.dir, { classes: 2 })
    return { module: b.module, height: m.height, task: m.task, sampleCount: 64, context: { x: set.inputs.data, y: set.labels } }
  })
  return (await mergeModules(inputs, method, { evaluator: model.evaluator() })).stateRoot
}

describe('daemons on loopback (data-free merge)', { timeout: 240_000 }, () => {
  let net: Testnet
  const daemons: RunningDaemon[] = []
  const bundles: string[] = []

  before(async () => {
    net = await createTestnet({ sites: 6, method: 'linear', params: { weighting: 'samples' }, extraMembers: ['mallory'] })
    const first = await startDaemon(net.sites[0]!)
    daemons.push(first)
    for (const site of net.sites.slice(1, 5)) daemons.push(await startDaemon(site, { bootstrap: first.addresses }))
  })

  after(async () => {
    await Promise.all(daemons.map(async d => { if (d.child.exitCode === null) await d.kill() }))
    net?.cleanup()
  })

  it(`converges on the root merge-core computes, whatever the publication order (seed ${seed})`, async () => {
    // Three publishers, four modules (one publisher publishes twice), random delays and order.
    const plan = [
      { site: 1, task: 'task-1' }, { site: 2, task: 'task-1' }, { site: 3, task: 'task-2' }, { site: 1, task: 'task-2' }
    ].sort(() => random() - 0.5)
    await Promise.all(plan.map(async ({ site, task }, i) => {
      await new Promise(r => setTimeout(r, Math.floor(random() * 1500)))
      const dir = makeBundle(join(net.base, `bundle-${i}`), task, `site-${site}-${i}`)
      bundles.push(dir)
      if (i === 0) {
        // One publication goes through the CLI, as an operator would do it.
        const r = spawnSync(process.execPath, [bin, 'publish', dir, '--data-dir', net.sites[site]!.dir], { cwd: root, encoding: 'utf8' })
        assert.equal(r.status, 0, r.stderr)
        assert.match(r.stdout, /published module bafk/)
      } else {
        const bundleBody = {
          task,
          module: Buffer.from(await import('@medforge/node').then(m => m.readModuleBundle(dir).moduleFile)).toString('base64'),
          distilled: readFileSync(join(dir, 'distilled.safetensors')).toString('base64'),
          samples: 64
        }
        const res = await daemons[site]!.post('/modules', bundleBody)
        assert.equal(res.status, 200, JSON.stringify(res.body))
      }
    }))
    const root4 = await agreeOn(daemons, 4)
    const modules = (await daemons[0]!.get('/modules')).modules as ModuleView[]
    assert.equal(root4, await expectedRoot(bundles, modules, { name: 'linear', weighting: 'samples' }))
    // Attestations travel after the merges: agreement is what every peer's latest one says.
    await waitFor('daemon 4 hearing every peer attest its root', async () => (await daemons[4]!.get('/status')).networks[0].agreement.agree === true ? true : undefined, 20_000)
    // /peers names where a peer listens (its identify message), not an inbound connection's ephemeral port.
    const seen = ((await daemons[4]!.get('/peers')).peers as Array<{ peerId: string, addresses: string[], connections: string[] }>).find(p => p.peerId === daemons[0]!.peerId)
    assert.ok(seen?.addresses.includes(daemons[0]!.addresses[0]!.replace(/\/p2p\/.*$/, '')), JSON.stringify(seen))
    // /metrics: the agreement gauge per network, and every metric the Grafana dashboard queries.
    const metricsText = await (await fetch(`${daemons[4]!.url}/metrics`)).text()
    assert.match(metricsText, new RegExp(`medforge_agreement\\{network="${net.network}"\\} 1`))
    const grafana = JSON.parse(readFileSync(join(root, 'ops', 'grafana-dashboard.json'), 'utf8')) as { panels: Array<{ targets: Array<{ expr: string }> }> }
    const queried = new Set(grafana.panels.flatMap(p => p.targets.flatMap(t => t.expr.match(/medforge_[a-z_]+/g) ?? [])))
    for (const name of queried) assert.ok(metricsText.includes(`# TYPE ${name.replace(/_(bucket|sum|count)$/, '')} `), `the dashboard queries ${name}, which /metrics does not serve`)
    const cli = spawnSync(process.execPath, [bin, 'status', '--data-dir', net.sites[4]!.dir], { cwd: root, encoding: 'utf8' })
    assert.equal(cli.status, 0, cli.stderr)
    assert.match(cli.stdout, new RegExp(`state root ${root4}`))
    assert.match(cli.stdout, /all 4 peer\(s\) heard attest this root/)
    const out = join(net.base, 'export')
    const exported = spawnSync(process.execPath, [bin, 'composite', 'export', '--data-dir', net.sites[2]!.dir, '--out', out], { cwd: root, encoding: 'utf8' })
    assert.equal(exported.status, 0, exported.stderr)
    const description = JSON.parse(readFileSync(join(out, 'medforge-composite.json'), 'utf8')) as { stateRoot: string, inputs: unknown[] }
    assert.equal(description.stateRoot, root4)
    assert.equal(description.inputs.length, 4)
    assert.equal(readPeftAdapter(out).module.layers.size, 1)
  })

  it('a late joiner syncs the history and reaches the same root', async () => {
    const root4 = (await daemons[0]!.get('/status')).networks[0].stateRoot
    const late = await startDaemon(net.sites[5]!, { bootstrap: daemons[2]!.addresses })
    daemons.push(late)
    assert.equal(await agreeOn(daemons, 4), root4)
  })

  it('a daemon killed with SIGKILL restarts with the same root and fetches nothing again', async () => {
    const victim = daemons[3]!
    const before = await victim.get('/status')
    await victim.kill()
    const restarted = await startDaemon(victim.site, { bootstrap: daemons[0]!.addresses })
    daemons[3] = restarted
    const status = await restarted.get('/status')
    assert.equal(status.networks[0].stateRoot, before.networks[0].stateRoot, 'same root straight after restart')
    await new Promise(r => setTimeout(r, 1500))
    const events = (await restarted.get('/events?limit=1000')).events as Array<{ name: string }>
    assert.equal(events.filter(e => e.name === 'fetch').length, 0, 'no blob fetched again')
    assert.equal((await restarted.get('/status')).networks[0].stateRoot, before.networks[0].stateRoot)
  })

  it('refuses a non-member author, a forged signature and wrong blob bytes, counting each, changing nothing', async () => {
    const target = daemons[0]!
    const before = await target.get('/status')
    let malloryScore: number | undefined
    const report = await runHostilePeer({
      net,
      mallory: net.extra.get('mallory')!,
      target: target.addresses[0]!,
      parentRoot: before.networks[0].stateRoot,
      height: before.networks[0].height + 1,
      whileConnected: async () => {
        const peers = (await target.get('/peers')).peers as Array<{ peerId: string, gossipScore: number }>
        malloryScore = peers.find(p => p.peerId === net.extra.get('mallory')!.peerId)?.gossipScore
      }
    })
    const after = await waitFor('refusals to be counted', async () => {
      const s = (await target.get('/status')).networks[0]
      return s.refusals.not_a_member >= 1 && s.refusals.bad_signature >= 1 && s.refusals.hash_mismatch >= 1 ? s : undefined
    })
    assert.equal(after.stateRoot, before.networks[0].stateRoot, 'state root unchanged')
    assert.equal(after.moduleCount, before.networks[0].moduleCount)
    const mallory = ((await target.get('/modules')).modules as Array<{ cid: string, status: string }>).find(m => m.cid === report.moduleCid)
    assert.equal(mallory?.status, 'fetching', 'the module whose blob never verified is not merged')
    assert.ok(malloryScore !== undefined && malloryScore < 0, `mallory's gossip score at the target is ${malloryScore}`)
    assert.equal(report.outsiderConnected, false, 'a non-member cannot connect in members-only mode')
  })

  it('shuts down cleanly on SIGTERM', async () => {
    const d = daemons.pop()!
    assert.equal(await d.stop(), 0, d.output())
  })
})

describe('daemons on loopback (MedForge-Fusion)', { timeout: 180_000 }, () => {
  let net: Testnet
  const daemons: RunningDaemon[] = []

  after(async () => {
    await Promise.all(daemons.map(async d => { if (d.child.exitCode === null) await d.kill() }))
    net?.cleanup()
  })

  it('three daemons fold with Fusion and agree with merge-core', async () => {
    net = await createTestnet({ sites: 3, method: 'medforge-fusion', params: { budget: 12 } })
    const first = await startDaemon(net.sites[0]!)
    daemons.push(first)
    for (const site of net.sites.slice(1)) daemons.push(await startDaemon(site, { bootstrap: first.addresses }))
    const bundles = [makeBundle(join(net.base, 'f0'), 'task-1', 'f0'), makeBundle(join(net.base, 'f1'), 'task-2', 'f1'), makeBundle(join(net.base, 'f2'), 'task-1', 'f2')]
    const { readModuleBundle } = await import('@medforge/node')
    for (const [i, dir] of bundles.entries()) {
      const b = readModuleBundle(dir)
      const res = await daemons[i]!.post('/modules', { task: b.meta.task, module: Buffer.from(b.moduleFile).toString('base64'), distilled: Buffer.from(b.distilledFile!).toString('base64'), samples: 64 })
      assert.equal(res.status, 200, JSON.stringify(res.body))
    }
    const root = await agreeOn(daemons, 3)
    const modules = (await daemons[0]!.get('/modules')).modules as ModuleView[]
    assert.equal(root, await expectedRoot(bundles, modules, { name: 'medforge-fusion', budget: 12 }))
    const composite = await daemons[1]!.get('/composite')
    assert.equal(composite.steps.length, 3)
    assert.equal(composite.method.name, 'medforge-fusion')
  })
})
