// Blob transfer over the libp2p fetch protocol (TCP + Noise + Yamux on loopback, SHA-256 checked
// before the bytes are returned) against a raw TCP socket carrying the same bytes, in the same run.
// The serving side runs in its own process, as a remote peer would.
import { spawn } from 'node:child_process'
import { connect } from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { encodeFrame, newIdentity } from '@medforge/protocol'
import { fetchBlob, createMedforgeLibp2p } from '@medforge/node'

export const TRANSFER_HEADER = '| blob | libp2p fetch s | fetch MB/s | raw TCP s | raw TCP MB/s | fetch / raw TCP | bare libp2p stream MB/s | bare / raw TCP |\n|---|---|---|---|---|---|---|---|'

async function rawTcp (port: number, cid: string, size: number): Promise<number> {
  const t0 = performance.now()
  await new Promise<void>((resolve, reject) => {
    const out = new Uint8Array(size)
    let received = 0
    const socket = connect(port, '127.0.0.1', () => socket.write(`${cid}\n`))
    socket.on('data', (chunk: Buffer) => { out.set(chunk, received); received += chunk.length })
    socket.on('end', () => received === size ? resolve() : reject(new Error(`raw TCP got ${received} of ${size} bytes`)))
    socket.on('error', reject)
  })
  return (performance.now() - t0) / 1000
}

export async function benchTransfer (quick: boolean, log: (line: string) => void = console.log): Promise<string[]> {
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
  const rows: string[] = []
  const bare = async (mb: number): Promise<number> => {
    const t0 = performance.now()
    const stream = await client.dialProtocol(server, '/medforge-bench/bare/1.0.0')
    stream.send(encodeFrame(new TextEncoder().encode(String(mb))))
    let n = 0
    for await (const chunk of stream) n += chunk.byteLength
    if (n !== mb * 1024 * 1024) throw new Error(`bare stream got ${n} bytes`)
    return (performance.now() - t0) / 1000
  }
  try {
    for (const mb of sizes) {
      const cid = info.cids[mb]!
      const size = mb * 1024 * 1024
      let best = Infinity
      let bestRaw = Infinity
      let bestBare = Infinity
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now()
        const got = await fetchBlob(client, server, cid, { maxBytes: 1 << 30, signal: AbortSignal.timeout(600_000) })
        best = Math.min(best, (performance.now() - t0) / 1000)
        if (got.length !== size) throw new Error('short blob')
        bestRaw = Math.min(bestRaw, await rawTcp(info.port, cid, size))
        bestBare = Math.min(bestBare, await bare(mb))
      }
      const rate = (s: number): number => size / s / 1e6
      const row = `| ${mb} MB | ${best.toFixed(3)} | ${rate(best).toFixed(0)} | ${bestRaw.toFixed(3)} | ${rate(bestRaw).toFixed(0)} | ${(bestRaw / best * 100).toFixed(1)}% | ${rate(bestBare).toFixed(0)} | ${(bestRaw / bestBare * 100).toFixed(1)}% |`
      log(row)
      rows.push(row)
    }
  } finally {
    await client.stop()
    child.kill()
  }
  return rows
}
