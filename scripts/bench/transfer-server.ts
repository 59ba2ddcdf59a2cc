// The serving side of the transfer benchmark, in its own process as a peer would be: a libp2p
// node with a blob store holding one random blob per requested size, and a raw TCP server that
// sends the same bytes. Prints {addr, port, cids} as one JSON line, then serves until stopped
// (SIGTERM or SIGINT), when it removes its store.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { newIdentity } from '@medforge/protocol'
import { createMedforgeLibp2p, createBlobStore } from '@medforge/node'

const sizes = process.argv.slice(2).map(Number)
const dir = mkdtempSync(join(tmpdir(), 'medforge-bench-serve-'))
const store = createBlobStore(dir)
const blobs = new Map<string, Uint8Array>()
const cids: Record<string, string> = {}
for (const mb of sizes) {
  const bytes = new Uint8Array(randomBytes(mb * 1024 * 1024))
  const cid = store.put(bytes)
  blobs.set(cid, bytes)
  cids[mb] = cid
}
const node = await createMedforgeLibp2p({ privateKey: (await newIdentity()).privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], maxMessageBytes: 65536, blobs: { blobs: store, maxBytes: 1 << 30, timeoutMs: 600_000 } })
// The stack's own ceiling: the same number of bytes over a plain libp2p stream, no framing, no hash.
export const BARE_PROTOCOL = '/medforge-bench/bare/1.0.0'
const zeros = new Uint8Array(256 * 1024)
await node.handle(BARE_PROTOCOL, async stream => {
  const { lpStream } = await import('@libp2p/utils')
  const mb = Number(new TextDecoder().decode((await lpStream(stream).read()).subarray()))
  for (let sent = 0; sent < mb * 1024 * 1024; sent += zeros.length) if (!stream.send(zeros)) await stream.onDrain()
  await stream.close()
}, { maxInboundStreams: 64 })
// Raw TCP, one connection for many requests (as the fetch reuses its libp2p connection): the
// client writes a CID and a newline; the server answers each with exactly those bytes.
const raw = createServer(socket => {
  let line = ''
  socket.on('data', (d: Buffer) => {
    line += d.toString()
    for (let nl = line.indexOf('\n'); nl >= 0; nl = line.indexOf('\n')) {
      const bytes = blobs.get(line.slice(0, nl).trim())
      line = line.slice(nl + 1)
      if (bytes === undefined) { socket.destroy(); return }
      socket.write(bytes)
    }
  })
})
await new Promise<void>(resolve => raw.listen(0, '127.0.0.1', () => resolve()))
console.log(JSON.stringify({ addr: node.getMultiaddrs()[0]!.toString(), port: (raw.address() as AddressInfo).port, cids }))
// The store holds the blobs (about 210 MB for the full bench): gone when the benchmark stops this server.
const stop = (): void => { rmSync(dir, { recursive: true, force: true }); process.exit(0) }
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
