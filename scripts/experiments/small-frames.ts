// Issue 16 experiment: the stack's CPU per small message, @libp2p/tcp as it is against the same
// transport with one socket write per encrypted frame (packages/node/src/p2p/one-write-per-frame.ts).
// Two node pairs in one process (both ends' CPU counted), TCP + Noise + Yamux on loopback. Per
// sample: 2,000 echoes of a 300-byte message on one long-lived stream (gossip-like) and 200 pings
// (a new stream each, as sync and blob requests open). Pairs interleaved round by round, 7 rounds
// after a warm-up; CPU µs per message (process.cpuUsage), median with min–max.
//   node scripts/experiments/small-frames.ts
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { lpStream } from '@libp2p/utils'
import { formatStats, statsOf } from '../bench/measure.ts'
import { tcpOneWritePerFrame } from '@medforge/node'

const PROTOCOL = '/medforge-bench/echo/1.0.0'
type Node = Libp2p<{ ping: ReturnType<ReturnType<typeof ping>> }>

async function node (transport: typeof tcp): Promise<Node> {
  const n = await createLibp2p({ addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [transport()], connectionEncrypters: [noise()], streamMuxers: [yamux()], services: { ping: ping() } })
  await n.handle(PROTOCOL, async (stream) => {
    const lp = lpStream(stream)
    for (;;) {
      const msg = await lp.read().catch(() => undefined)
      if (msg === undefined) break
      await lp.write(msg)
    }
  })
  return n
}

const message = new Uint8Array(300).fill(7)
async function sample (client: Node, server: Node): Promise<{ echo: number, ping: number }> {
  const addr = server.getMultiaddrs()[0]!
  let cpu = process.cpuUsage()
  const lp = lpStream(await client.dialProtocol(addr, PROTOCOL))
  for (let i = 0; i < 2000; i++) { await lp.write(message); await lp.read() }
  await lp.unwrap().close()
  const echo = (process.cpuUsage(cpu).user + process.cpuUsage(cpu).system) / 2000
  cpu = process.cpuUsage()
  for (let i = 0; i < 200; i++) await client.services.ping.ping(addr)
  const d = process.cpuUsage(cpu)
  return { echo, ping: (d.user + d.system) / 200 }
}

const pairs = [
  { label: '@libp2p/tcp', nodes: [await node(tcp), await node(tcp)] },
  { label: 'one write per frame', nodes: [await node(tcpOneWritePerFrame), await node(tcpOneWritePerFrame)] }
]
const results = new Map(pairs.map(p => [p.label, { echo: [] as number[], ping: [] as number[] }]))
for (const p of pairs) await sample(p.nodes[0]!, p.nodes[1]!) // warm-up
for (let round = 0; round < 7; round++) {
  for (const p of round % 2 === 0 ? pairs : [...pairs].reverse()) {
    const s = await sample(p.nodes[0]!, p.nodes[1]!)
    results.get(p.label)!.echo.push(s.echo)
    results.get(p.label)!.ping.push(s.ping)
  }
}
console.log('| transport | CPU µs per echoed 300-byte message | CPU µs per ping (new stream) |\n|---|---|---|')
for (const [label, r] of results) console.log(`| ${label} | ${formatStats(statsOf(r.echo), 1, 1)} | ${formatStats(statsOf(r.ping), 1, 0)} |`)
for (const p of pairs) for (const n of p.nodes) await n.stop()
