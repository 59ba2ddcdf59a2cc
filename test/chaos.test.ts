// Crashes, a full disk, partitions, churn and load. `npm test` runs a short version of each;
// `npm run test:chaos` (MEDFORGE_CHAOS=full) runs the counts RELIABILITY.md reports, and writes
// the figures to artifacts/chaos-report.json.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createBlobStore, Ledger, startDaemon as startInProcess, readModuleBundle } from '@medforge/node'
import type { Daemon } from '@medforge/node'
import { agreeOn, createTestnet, makeBundle, root, startDaemon, waitFor } from './support/testnet-fixture.ts'
import type { RunningDaemon, Testnet } from './support/testnet-fixture.ts'

const FULL = process.env.MEDFORGE_CHAOS === 'full'
const report: Record<string, unknown> = { scale: FULL ? 'full' : 'ci', date: new Date().toISOString() }
const seed = Number(process.env.MEDFORGE_TEST_SEED ?? Date.now() % 100000)
let rng = seed
const random = (): number => { rng = (rng * 1103515245 + 12345) % 2147483648; return rng / 2147483648 }
const percentile = (xs: number[], p: number): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]! }

let bundleCount = 0
function bundle (base: string, task = bundleCount % 2 === 0 ? 'task-1' : 'task-2'): ReturnType<typeof readModuleBundle> {
  const dir = makeBundle(join(base, `chaos-bundle-${bundleCount}`), task, `chaos-${seed}-${bundleCount++}`)
  return readModuleBundle(dir)
}
const body = (b: ReturnType<typeof readModuleBundle>): Record<string, unknown> => ({ task: b.meta.task, module: Buffer.from(b.moduleFile).toString('base64'), distilled: Buffer.from(b.distilledFile!).toString('base64'), samples: 64 })

/** What a crash must never leave: a ledger that does not open or check, a blob that fails its hash. */
function checkDataDir (dir: string): { blobs: number } {
  const ledger = new Ledger(join(dir, 'ledger.sqlite'))
  ledger.close()
  const check = execFileSync(process.execPath, ['-e', `const {DatabaseSync}=require('node:sqlite');const db=new DatabaseSync(${JSON.stringify(join(dir, 'ledger.sqlite'))});console.log(db.prepare('PRAGMA integrity_check').get().integrity_check)`], { encoding: 'utf8' }).trim()
  assert.equal(check, 'ok', `ledger integrity: ${check}`)
  const store = createBlobStore(join(dir, 'blobs'))
  const cids = store.list()
  for (const cid of cids) assert.ok(store.get(cid) !== undefined, `blob ${cid} reads back`)
  assert.deepEqual(readdirSync(join(dir, 'blobs', 'tmp')), [], 'no half-written blob is left where it could be mistaken for one')
  return { blobs: cids.length }
}

describe('chaos', { timeout: FULL ? 1_800_000 : 300_000 }, () => {
  after(() => {
    mkdirSync(join(root, 'artifacts'), { recursive: true })
    writeFileSync(join(root, 'artifacts', 'chaos-report.json'), JSON.stringify({ seed, ...report }, null, 2) + '\n')
    console.log(`chaos report (seed ${seed}): ${JSON.stringify(report)}`)
  })

  it(`kill -9 at random moments (${FULL ? 50 : 5} times): the ledger opens, blobs verify, the root matches`, async () => {
    const net = await createTestnet({ sites: 3, method: 'medforge-fusion', params: { budget: 6 } })
    const daemons: RunningDaemon[] = [await startDaemon(net.sites[0]!)]
    for (const s of net.sites.slice(1)) daemons.push(await startDaemon(s, { bootstrap: daemons[0]!.addresses }))
    try {
      const kills = FULL ? 50 : 5
      let published = 0
      const restarts: number[] = []
      for (let i = 0; i < kills; i++) {
        const publisher = daemons[i % 2]!
        const res = await publisher.post('/modules', body(bundle(net.base)))
        assert.equal(res.status, 200, JSON.stringify(res.body))
        published++
        // The victim is now fetching, verifying, merging and writing: kill it somewhere in there.
        await new Promise(r => setTimeout(r, Math.floor(random() * 250)))
        await daemons[2]!.kill()
        checkDataDir(net.sites[2]!.dir)
        const t0 = performance.now()
        daemons[2] = await startDaemon(net.sites[2]!, { bootstrap: daemons[0]!.addresses })
        await agreeOn(daemons, published)
        restarts.push(performance.now() - t0)
      }
      report.crashes = { kills, modulesPublished: published, recoveryMs: { p50: Math.round(percentile(restarts, 0.5)), p95: Math.round(percentile(restarts, 0.95)), max: Math.round(Math.max(...restarts)) } }
    } finally {
      await Promise.all(daemons.map(async d => { await d.kill() }))
      net.cleanup()
    }
  })

  it('a full disk: new blobs are refused with a clear error, the daemon keeps serving, and recovers when space returns', async () => {
    const net = await createTestnet({ sites: 2, method: 'linear' })
    const victimDir = net.sites[1]!.dir
    const mount = mkdtempSync(join(tmpdir(), 'medforge-tmpfs-'))
    let mounted = false
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mount], { stdio: 'ignore' })
      mounted = true
    } catch { /* not permitted here: fall back to the blob store's disk budget */ }
    const daemons: RunningDaemon[] = []
    try {
      let filler = ''
      if (mounted) {
        cpSync(victimDir, mount, { recursive: true })
        rmSync(victimDir, { recursive: true })
        execFileSync('ln', ['-s', mount, victimDir])
      }
      daemons.push(await startDaemon(net.sites[0]!))
      daemons.push(await startDaemon(net.sites[1]!, { bootstrap: daemons[0]!.addresses, extraArgs: mounted ? [] : ['--max-blob-bytes', '1'] }))
      await agreeOn(daemons, 0)
      if (mounted) {
        // Leave a few kilobytes: enough for the ledger's pages, not for the module's blobs.
        filler = join(mount, 'filler')
        execFileSync('sh', ['-c', `dd if=/dev/zero of=${filler} bs=1k count=4096 2>/dev/null || true`])
      }
      const res = await daemons[0]!.post('/modules', body(bundle(net.base)))
      assert.equal(res.status, 200)
      const refused = await waitFor('the victim to refuse the blob', async () => {
        const events = (await daemons[1]!.get('/events?limit=500')).events as Array<{ name: string, detail: { error?: string } }>
        return events.find(e => (e.name === 'fetch-failed' || e.name === 'storage-error') && /disk is full/.test(e.detail.error ?? ''))
      }, 30_000)
      // A full disk stops the blob first (budget) or the ledger write too (tmpfs); either way, said plainly.
      assert.match(refused.detail.error!, /(cannot store blob bafk|ledger write failed).*the disk is full/)
      const during = (await daemons[1]!.get('/status')).networks[0]
      assert.equal(during.moduleCount, 0, 'nothing half-admitted')
      // Space returns.
      if (mounted) rmSync(filler)
      else {
        await daemons[1]!.stop()
        daemons[1] = await startDaemon(net.sites[1]!, { bootstrap: daemons[0]!.addresses })
      }
      const rootAfter = await agreeOn(daemons, 1, 30_000)
      assert.match(rootAfter, /^bafkrei/)
      checkDataDir(mounted ? mount : victimDir)
      report.diskFull = { simulatedWith: mounted ? 'tmpfs (4 MiB, filled)' : 'blob store budget (--max-blob-bytes)', refusedWith: refused.detail.error, recovered: true }
    } finally {
      await Promise.all(daemons.map(async d => { await d.kill() }))
      if (mounted) execFileSync('umount', ['-l', mount], { stdio: 'ignore' })
      net.cleanup()
    }
  })

  describe('partitions and churn (in-process daemons)', () => {
    const running: Daemon[] = []
    let net: Testnet
    after(async () => {
      for (const d of running) await d.stop().catch(() => {})
      net?.cleanup()
    })
    const publishIn = async (d: Daemon): Promise<void> => {
      const b = bundle(net.base)
      await d.runtime().publish({ task: b.meta.task!, moduleFile: b.moduleFile, distilledFile: b.distilledFile!, samples: 64 })
    }
    const agreeInProcess = async (ds: Daemon[], count: number, timeoutMs = 60_000): Promise<string> => await waitFor(`${ds.length} in-process daemons to agree on ${count} (now: ${ds.map(d => `${d.name} ${d.runtime().head().moduleCount} modules, ${d.ledger.modules(d.runtime().state.network, 'fetching').length} fetching, ${d.libp2p.getPeers().length} peers`).join('; ')})`, async () => {
      const heads = ds.map(d => d.runtime().head())
      return new Set(heads.map(h => h.stateRoot)).size === 1 && heads.every(h => h.moduleCount === count) && ds.every(d => !d.runtime().scheduler.running) ? heads[0]!.stateRoot : undefined
    }, timeoutMs)

    it(`random partitions heal to the root of the union (${FULL ? 10 : 2} rounds)`, async () => {
      net = await createTestnet({ sites: 7, method: 'linear' })
      for (const [i, s] of net.sites.slice(0, 5).entries()) {
        running.push(await startInProcess({ dataDir: s.dir, syncIntervalMs: 1000, ...(i === 0 ? {} : { bootstrap: running[0]!.libp2p.getMultiaddrs().map(a => a.toString()) }) }))
      }
      // Each side of a cut must be connected within itself: wait for the full mesh that peer
      // adverts build (a newcomer's advert reaches every member, and each of them dials it).
      await waitFor('a fully connected network', async () => running.every(d => d.libp2p.getPeers().length >= running.length - 1) ? true : undefined, 60_000)
      let total = 0
      const healTimes: number[] = []
      const rounds = FULL ? 10 : 2
      for (let round = 0; round < rounds; round++) {
        const shuffled = [...running].sort(() => random() - 0.5)
        const cut = 1 + Math.floor(random() * (shuffled.length - 1))
        const [a, b] = [shuffled.slice(0, cut), shuffled.slice(cut)]
        for (const x of a) for (const y of b) { await x.blockPeer(y.peerId); await y.blockPeer(x.peerId) }
        await publishIn(a[0]!)
        await publishIn(b[0]!)
        total += 2
        await agreeInProcess(a, total - 1)
        await agreeInProcess(b, total - 1)
        assert.notEqual(a[0]!.runtime().head().stateRoot, b[0]!.runtime().head().stateRoot, 'the two sides diverge while cut')
        const t0 = performance.now()
        for (const x of a) for (const y of b) { x.unblockPeer(y.peerId); y.unblockPeer(x.peerId) }
        for (const x of a) for (const y of b) await x.libp2p.dial(y.libp2p.getMultiaddrs()).catch(() => {})
        await agreeInProcess(running, total)
        healTimes.push(performance.now() - t0)
      }
      report.partitions = { rounds, daemons: running.length, healToConvergenceMs: { p50: Math.round(percentile(healTimes, 0.5)), p95: Math.round(percentile(healTimes, 0.95)), max: Math.round(Math.max(...healTimes)) } }
    })

    it('churn: daemons leave and join while modules are published; late joiners converge', async () => {
      let total = running[0]!.runtime().head().moduleCount
      const events: string[] = []
      const started = new Set(running.map(d => d.dataDir.dir))
      for (let step = 0; step < (FULL ? 12 : 4); step++) {
        const publisher = running[Math.floor(random() * running.length)]!
        await publishIn(publisher)
        total++
        if (step % 2 === 0 && running.length > 3) {
          // Anyone but the publisher may leave at once: a module whose only copy leaves before any
          // peer fetched it waits, still 'fetching' everywhere, until its publisher comes back.
          const candidates = running.slice(1).filter(d => d !== publisher)
          const leaving = candidates[Math.floor(random() * candidates.length)]!
          running.splice(running.indexOf(leaving), 1)
          await leaving.stop()
          events.push(`left: ${leaving.name}`)
        } else {
          // Sites that never ran yet (late joiners with no history at all) first, then returning ones.
          const idle = net.sites.filter(s => !running.some(d => d.dataDir.dir === s.dir))
          const dir = (idle.find(s => !started.has(s.dir)) ?? idle[0]!).dir
          started.add(dir)
          running.push(await startInProcess({ dataDir: dir, syncIntervalMs: 1000, bootstrap: running[0]!.libp2p.getMultiaddrs().map(a => a.toString()) }))
          events.push(`joined: ${running.at(-1)!.name}${started.size > 5 && !events.some(e => e.endsWith(running.at(-1)!.name)) ? ' (first time, no history)' : ''}`)
        }
        await new Promise(r => setTimeout(r, 300))
      }
      const t0 = performance.now()
      await agreeInProcess(running, total)
      report.churn = { steps: events.length, events, modules: total, finalDaemons: running.length, convergenceAfterLastChangeMs: Math.round(performance.now() - t0) }
    })
  })

  it(`load: ${FULL ? 20 : 5} daemons (processes), ${FULL ? 50 : 6} modules: convergence times and memory`, async () => {
    const n = FULL ? 20 : 5
    const modules = FULL ? 50 : 6
    const net = await createTestnet({ sites: n, method: 'linear' })
    const daemons: RunningDaemon[] = [await startDaemon(net.sites[0]!)]
    try {
      for (const s of net.sites.slice(1)) daemons.push(await startDaemon(s, { bootstrap: daemons[0]!.addresses }))
      await waitFor('every daemon connected', async () => (await Promise.all(daemons.map(async d => (await d.get('/status')).peers as number))).every(p => p >= 2) ? true : undefined, 60_000)
      const bundles = Array.from({ length: modules }, () => bundle(net.base))
      const times: number[] = []
      const rss = new Map<string, number>()
      let published = 0
      const sample = async (): Promise<Array<{ count: number }>> => await Promise.all(daemons.map(async d => {
        const st = await d.get('/status')
        rss.set(d.site.name, Math.max(rss.get(d.site.name) ?? 0, st.memory.rss as number))
        return { count: st.networks[0].moduleCount as number }
      }))
      for (const b of bundles) {
        const publisher = daemons[Math.floor(random() * n)]!
        const t0 = performance.now()
        const res = await publisher.post('/modules', body(b))
        assert.equal(res.status, 200)
        published++
        const target = published
        await waitFor(`module ${target} everywhere`, async () => (await sample()).every(s => s.count >= target) ? true : undefined, 60_000)
        times.push(performance.now() - t0)
        await new Promise(r => setTimeout(r, FULL ? 1500 + random() * 1500 : 200))
      }
      const root = await agreeOn(daemons, modules)
      const mib = [...rss.values()].map(v => v / 1048576)
      report.load = {
        daemons: n, modules, stateRoot: root,
        publishToAllMergedMs: { p50: Math.round(percentile(times, 0.5)), p95: Math.round(percentile(times, 0.95)), max: Math.round(Math.max(...times)) },
        peakRssMiBPerDaemon: { median: Math.round(percentile(mib, 0.5)), max: Math.round(Math.max(...mib)) }
      }
    } finally {
      await Promise.all(daemons.map(async d => { await d.kill() }))
      net.cleanup()
    }
  })
})
