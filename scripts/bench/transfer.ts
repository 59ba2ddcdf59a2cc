// Blob transfer over the libp2p fetch protocol (TCP + Noise + Yamux on loopback, SHA-256 checked
// before the bytes are returned) against a raw TCP socket carrying the same bytes, in the same run.
// The serving side runs in its own process, as a remote peer would.
import { spawn } from 'node:child_process'
import { connect } from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { encodeFrame, newIdentity } from '@medforge/protocol'
import { fetchBlob, createMedforgeLibp2p } from '@medforge/node'
import { formatStats, statsOf } from './measure.ts'

export const TRANSFER_HEADER = '| blob | libp2p fetch MB/s, median [min–max] | raw TCP MB/s | fetch / raw TCP, median [min–max] | bare libp2p stream MB/s | bare / raw TCP |\n|---|---|---|---|---|---|'

/** A raw TCP connection kept open across requests, as the libp2p client keeps its connection. */
async function rawTcpClient (port: number): Promise<{ get: (cid: string, size: number) => Promise<void>, close: () => void }> {
  const socket = connect(port, '127.0.0.1')
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  let want: { size: number, out: Uint8Array, received: number, done: () => void } | undefined
  socket.on('data', (chunk: Buffer) => {
    if (want === undefined) throw new Error('raw TCP sent bytes nobody asked for')
    want.out.set(chunk, want.received)
    want.received += chunk.length
    if (want.received === want.size) { const w = want; want = undefined; w.done() }
  })
  return {
    get: async (cid, size) => {
      await new Promise<void>(resolve => { want = { size, out: new Uint8Array(size), received: 0, done: resolve }; socket.write(`${cid}\n`) })
    },
    close: () => { socket.destroy() }
  }
}

export async function benchTransfer (quick: boolean, log: (line: string) => void = console.log, json: unknown[] = []): Promise<string[]> {
  const sizes = quick ? [10] : [10, 200]
  const child = spawn(process.execPath, [...(process.env.MEDFORGE_PROFILE_SERVER === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', process.env.MEDFORGE_PROFILE_SERVER]), new URL('./transfer-server.ts', import.meta.url).pathname, ...sizes.map(String)], { stdio: ['ignore', 'pipe', 'inherit'] })
  const info = await new Promise<{ addr: string, port: number, cids: Record<string, string> }>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]!)) })
    child.once('exit', code => reject(new Error(`transfer server exited with ${code}`)))
  })
  const client = await createMedforgeLibp2p({ privateKey: (await newIdentity()).privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], maxMessageBytes: 65536 })
  const server = peerIdFromString(multiaddr(info.addr).getComponents().find(c => c.name === 'p2p')!.value!)
  await client.dial(multiaddr(info.addr))
  const raw = await rawTcpClient(info.port)
  const rows: string[] = []
  const bare = async (mb: number): Promise<number> => {
    const t0 = performance.now()
    const stream = await client.dialProtocol(server, '/medforge-bench/bare/1.0.0')
    stream.send(encodeFrame(new TextEncoder().encode(String(mb))))
    let n = 0
    for await (const chunk of stream) n += chunk.byteLength
    await stream.close() // our side too: a half-open stream counts against the server's stream limit
    if (n !== mb * 1024 * 1024) throw new Error(`bare stream got ${n} bytes`)
    return (performance.now() - t0) / 1000
  }
  try {
    for (const mb of sizes) {
      const cid = info.cids[mb]!
      const size = mb * 1024 * 1024
      // Rounds of fetch, raw TCP and bare stream back to back (the same machine state for the
      // three), after one warm-up round; medians and ranges of the rates and per-round ratios.
      const fetchS: number[] = []
      const rawS: number[] = []
      const bareS: number[] = []
      const rounds = quick ? 5 : 7
      // A sample moves at least 100 MB (a small blob is fetched several times), so that each lasts
      // well over 100 ms even on raw TCP: shorter ones measured the scheduler, not the transfer.
      const reps = Math.max(1, Math.ceil(100 / mb))
      const timed = async (once: () => Promise<unknown>): Promise<number> => {
        const t0 = performance.now()
        for (let k = 0; k < reps; k++) await once()
        return (performance.now() - t0) / 1000 / reps
      }
      for (let i = -1; i < rounds; i++) {
        const f = await timed(async () => {
          const got = await fetchBlob(client, server, cid, { maxBytes: 1 << 30, signal: AbortSignal.timeout(600_000) })
          if (got.length !== size) throw new Error('short blob')
        })
        const r = await timed(async () => { await raw.get(cid, size) })
        const b = await timed(async () => await bare(mb))
        if (i < 0) continue
        fetchS.push(f); rawS.push(r); bareS.push(b)
      }
      const mbps = (s: number): number => size / s / 1e6
      const fetchRate = statsOf(fetchS.map(mbps))
      const ratio = statsOf(fetchS.map((f, i) => rawS[i]! / f))
      const bareRatio = statsOf(bareS.map((b, i) => rawS[i]! / b))
      json.push({ blobMB: mb, fetchMBps: fetchRate, rawTcpMBps: statsOf(rawS.map(mbps)), fetchOverRaw: ratio, bareMBps: statsOf(bareS.map(mbps)), bareOverRaw: bareRatio })
      const row = `| ${mb} MB | ${formatStats(fetchRate, 1, 0)} | ${statsOf(rawS.map(mbps)).median.toFixed(0)} | ${formatStats(ratio, 100, 1)}% | ${statsOf(bareS.map(mbps)).median.toFixed(0)} | ${(bareRatio.median * 100).toFixed(1)}% |`
      log(row)
      rows.push(row)
    }
  } finally {
    raw.close()
    await client.stop()
    child.kill()
  }
  return rows
}
