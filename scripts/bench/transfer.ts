// Blob transfer over the libp2p fetch protocol (TCP + Noise + Yamux on loopback, SHA-256 checked
// before the bytes are returned) against a raw TCP socket carrying the same bytes, in the same run.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { newIdentity } from '../../packages/protocol/src/index.ts'
import { fetchBlob, serveBlobs } from '../../packages/node/src/p2p/blob-exchange.ts'
import { createMedforgeLibp2p } from '../../packages/node/src/p2p/create-libp2p.ts'
import { createBlobStore } from '../../packages/node/src/store/blob-store.ts'

export const TRANSFER_HEADER = '| blob | libp2p fetch s | libp2p MB/s | raw TCP s | raw TCP MB/s | ratio |\n|---|---|---|---|---|---|'

async function rawTcp (bytes: Uint8Array): Promise<number> {
  const server = createServer(socket => { socket.end(bytes) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
  const port = (server.address() as AddressInfo).port
  const t0 = performance.now()
  await new Promise<void>((resolve, reject) => {
    const out = new Uint8Array(bytes.length)
    let received = 0
    const socket = connect(port, '127.0.0.1')
    socket.on('data', (chunk: Buffer) => { out.set(chunk, received); received += chunk.length })
    socket.on('end', () => received === bytes.length ? resolve() : reject(new Error(`raw TCP got ${received} bytes`)))
    socket.on('error', reject)
  })
  const seconds = (performance.now() - t0) / 1000
  server.close()
  return seconds
}

export async function benchTransfer (quick: boolean, log: (line: string) => void = console.log): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'medforge-bench-blobs-'))
  const maxBytes = 256 * 1024 * 1024
  const server = await createMedforgeLibp2p({ privateKey: (await newIdentity()).privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], maxMessageBytes: 65536 })
  const client = await createMedforgeLibp2p({ privateKey: (await newIdentity()).privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], maxMessageBytes: 65536 })
  const store = createBlobStore(dir)
  await serveBlobs(server, store, { maxBytes, timeoutMs: 600_000 })
  await client.dial(server.getMultiaddrs()[0]!)
  const rows: string[] = []
  try {
    for (const mb of quick ? [10] : [10, 200]) {
      const bytes = new Uint8Array(randomBytes(mb * 1024 * 1024))
      const cid = store.put(bytes)
      store.get(cid) // warm the page cache, as a daemon serving a recent blob would have it
      let best = Infinity
      let bestRaw = Infinity
      for (let i = 0; i < (mb > 50 ? 2 : 3); i++) {
        const t0 = performance.now()
        const got = await fetchBlob(client, server.peerId, cid, { maxBytes, signal: AbortSignal.timeout(600_000) })
        best = Math.min(best, (performance.now() - t0) / 1000)
        if (got.length !== bytes.length) throw new Error('short blob')
        bestRaw = Math.min(bestRaw, await rawTcp(bytes))
      }
      const rate = (s: number): number => bytes.length / s / 1e6
      const row = `| ${mb} MB | ${best.toFixed(3)} | ${rate(best).toFixed(0)} | ${bestRaw.toFixed(3)} | ${rate(bestRaw).toFixed(0)} | ${(bestRaw / best * 100).toFixed(1)}% |`
      log(row)
      rows.push(row)
    }
  } finally {
    await client.stop()
    await server.stop()
    rmSync(dir, { recursive: true, force: true })
  }
  return rows
}
