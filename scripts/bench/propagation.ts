// Propagation: time from `publish` at one daemon until every daemon of the network has merged the
// module and attested the new root, for N = 3, 10, 20 in-process daemons, with a small module and a
// data-free merge, then with MedForge-Fusion (toy model: the loss costs microseconds, so this is
// the network's and the scheduler's time).
import { startDaemon, readModuleBundle } from '@medforge/node'
import type { Daemon } from '@medforge/node'
import { createTestnet, makeBundle } from '../../test/support/testnet-fixture.ts'
import { join } from 'node:path'
import { percentile } from './measure.ts'

export const PROPAGATION_HEADER = '| daemons | method | publications | p50 ms | p95 ms | max ms | warm-up publication ms |\n|---|---|---|---|---|---|---|'

async function until (check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise(r => setTimeout(r, 2))
  }
}

export async function benchPropagation (quick: boolean, log: (line: string) => void = console.log, only?: { sizes: number[], methods: string[] }): Promise<string[]> {
  const rows: string[] = []
  const publications = quick ? 5 : 20
  for (const method of only?.methods ?? ['linear', 'medforge-fusion']) {
    for (const n of only?.sizes ?? (quick ? [3] : [3, 10, 20])) {
      const net = await createTestnet({ sites: n, method })
      const daemons: Daemon[] = []
      try {
        for (const s of net.sites) daemons.push(await startDaemon({ dataDir: s.dir, syncIntervalMs: 5000, ...(daemons.length === 0 ? {} : { bootstrap: daemons[0]!.libp2p.getMultiaddrs().map(a => a.toString()) }) }))
        await until(() => daemons.every(d => d.libp2p.getPeers().length >= Math.min(n - 1, 3)), 60_000)
        await new Promise(r => setTimeout(r, 2000)) // meshes form on the gossipsub heartbeat
        // Publication 0 is a warm-up, timed apart (as in propagation-scale.ts): every daemon starts its
        // compute threads on its first merge, and N daemons doing that at once on one event loop is
        // not the network's time (with it among the 20, p95 was that one publication).
        const bundles = Array.from({ length: publications + 1 }, (_, i) => readModuleBundle(makeBundle(join(net.base, `p${i}`), i % 2 === 0 ? 'task-1' : 'task-2', `prop-${n}-${method}-${i}`)))
        const times: number[] = []
        let warmup = 0
        for (const [i, b] of bundles.entries()) {
          const publisher = daemons[i % n]!
          const t0 = performance.now()
          const a = await publisher.runtime().publish({ task: b.meta.task!, moduleFile: b.moduleFile, distilledFile: b.distilledFile!, samples: 64 })
          // Attested by all: every daemon's latest attestation (as this publisher hears them) includes the module.
          await until(() => daemons.every(d => d.runtime().head().moduleCount >= i + 1) &&
            publisher.ledger.attestations(net.network).filter(x => x.moduleCount >= i + 1).length >= n, 120_000)
          if (i === 0) warmup = performance.now() - t0
          else times.push(performance.now() - t0)
          void a
        }
        const row = `| ${n} | ${method} | ${publications} | ${percentile(times, 0.5).toFixed(0)} | ${percentile(times, 0.95).toFixed(0)} | ${Math.max(...times).toFixed(0)} | ${warmup.toFixed(0)} |`
        console.error(`propagation ${n} ${method}: ${times.map(t => t.toFixed(0)).join(' ')}`)
        log(row)
        rows.push(row)
      } finally {
        for (const d of daemons) await d.stop()
        net.cleanup()
      }
    }
  }
  return rows
}
