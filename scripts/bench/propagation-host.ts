// One OS process of the multi-process propagation benchmark: starts the daemons of the given data
// directories in this process, prints one JSON line per daemon (its API URL and listen
// addresses), and keeps them running until SIGTERM.
//   node scripts/bench/propagation-host.ts BOOTSTRAP_OR_- DATA_DIR...
import { startDaemon } from '@medforge/node'
import type { Daemon } from '@medforge/node'

// As the daemon command does: a stray library error (Yamux sending a window update on a closed
// connection is one) is logged, and the daemons keep serving.
process.on('uncaughtException', err => { console.error(`propagation host: ${err.message}`) })
process.on('unhandledRejection', err => { console.error(`propagation host: ${(err as Error)?.message ?? String(err)}`) })

const [bootstrap, ...dirs] = process.argv.slice(2)
const daemons: Daemon[] = []
for (const dir of dirs) {
  const d = await startDaemon({ dataDir: dir!, syncIntervalMs: 5000, ...(bootstrap === undefined || bootstrap === '-' ? {} : { bootstrap: [bootstrap] }) })
  daemons.push(d)
  console.log(JSON.stringify({ dir, url: d.api.url, addresses: d.libp2p.getMultiaddrs().map(a => a.toString()) }))
}
process.on('SIGTERM', () => { void Promise.all(daemons.map(async d => { await d.stop() })).finally(() => process.exit(0)) })
