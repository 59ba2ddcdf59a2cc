// Issue 16 experiment: what the libp2p stream stack costs, by configuration. Two nodes in one
// process (so the numbers are the whole stack's CPU per byte, both ends), TCP + Noise + Yamux on
// loopback, a bare stream carrying 100 MB per sample; configurations interleaved round by round,
// 5 rounds after a warm-up, medians with min–max:
// - Noise's default crypto (node:crypto ChaCha20-Poly1305 for messages >= 1200 bytes, as the
//   daemon uses), its pure-JavaScript one, and its AssemblyScript one;
// - Yamux's maximum message size: 64 KiB (default), 256 KiB, 1 MiB;
// - @libp2p/tcp as it is, or with one socket write per encrypted frame (the daemon's transport).
//   node scripts/experiments/stream-stack.ts [MB per sample, default 100]
import { noise, pureJsCrypto } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { tcpOneWritePerFrame } from '@medforge/node'
import type { Libp2p } from '@libp2p/interface'
import { formatStats, statsOf } from '../bench/measure.ts'

const PROTOCOL = '/medforge-bench/stack/1.0.0'
const mb = Number(process.argv[2] ?? 100)
const chunk = new Uint8Array(256 * 1024)
type Crypto = NonNullable<Parameters<typeof noise>[0]>['crypto']

async function node (crypto: Crypto | undefined, maxMessageSize: number, transport: typeof tcp): Promise<Libp2p> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [transport()],
    connectionEncrypters: [noise(crypto === undefined ? {} : { crypto })],
    streamMuxers: [yamux({ maxMessageSize, streamOptions: { initialStreamWindowSize: 4 * 1024 * 1024, maxStreamWindowSize: 16 * 1024 * 1024 } })]
  })
}

interface Config { label: string, client: Libp2p, server: Libp2p }
const configs: Config[] = []
for (const [label, crypto, size, transport] of [
  ['default crypto (node:crypto), Yamux 64 KiB', undefined, 64 * 1024, tcp],
  ['pure-JS crypto, Yamux 64 KiB', pureJsCrypto, 64 * 1024, tcp],
  ['default crypto, Yamux 256 KiB', undefined, 256 * 1024, tcp],
  ['default crypto, Yamux 1 MiB', undefined, 1024 * 1024, tcp],
  ['default crypto, Yamux 64 KiB, one write per frame (the daemon)', undefined, 64 * 1024, tcpOneWritePerFrame]
] as const) {
  const server = await node(crypto, size, transport)
  const client = await node(crypto, size, transport)
  await server.handle(PROTOCOL, async stream => {
    for (let sent = 0; sent < mb * 1024 * 1024; sent += chunk.length) if (!stream.send(chunk)) await stream.onDrain()
    await stream.close()
  }, { maxInboundStreams: 64 })
  await client.dial(server.getMultiaddrs()[0]!)
  configs.push({ label, client, server })
}

async function once (c: Config): Promise<number> {
  const t0 = performance.now()
  const stream = await c.client.dialProtocol(c.server.peerId, PROTOCOL)
  let n = 0
  for await (const part of stream) n += part.byteLength
  await stream.close()
  if (n !== mb * 1024 * 1024) throw new Error(`${c.label}: got ${n} bytes`)
  return mb * 1024 * 1024 / ((performance.now() - t0) / 1000) / 1e6
}

const rates = new Map(configs.map(c => [c.label, [] as number[]]))
for (let round = -1; round < 5; round++) {
  for (const c of round % 2 === 0 ? configs : [...configs].reverse()) {
    const r = await once(c)
    if (round >= 0) rates.get(c.label)!.push(r)
  }
}
console.log(`| stack (both ends in one process) | bare stream MB/s, median [min–max] |\n|---|---|`)
for (const [label, xs] of rates) console.log(`| ${label} | ${formatStats(statsOf(xs), 1, 0)} |`)
for (const c of configs) { await c.client.stop(); await c.server.stop() }
