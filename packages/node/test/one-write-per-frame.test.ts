// Each encrypted frame leaves in one socket write: Noise hands TCP a 2-byte length and the
// ciphertext as two buffers, which @libp2p/tcp alone writes with two system calls.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { Uint8ArrayList } from 'uint8arraylist'
import { JOIN_MAX_BYTES, joinFrames, tcpOneWritePerFrame } from '../src/p2p/one-write-per-frame.ts'

describe('one socket write per frame', () => {
  const nodes: Libp2p[] = []
  after(async () => { for (const n of nodes) await n.stop() })

  /** Socket writes of exactly 2 bytes (a lone Noise length prefix) while two nodes connect and ping 20 times. */
  async function lonePrefixWrites (transport: typeof tcp): Promise<{ writes: number, twoByte: number }> {
    const make = async (): Promise<Libp2p<{ ping: ReturnType<ReturnType<typeof ping>> }>> => {
      const node = await createLibp2p({ addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [transport()], connectionEncrypters: [noise()], streamMuxers: [yamux()], services: { ping: ping() } })
      nodes.push(node)
      return node
    }
    const [a, b] = [await make(), await make()]
    const write = net.Socket.prototype.write
    let writes = 0
    let twoByte = 0
    net.Socket.prototype.write = function (this: net.Socket, chunk: unknown, ...rest: unknown[]) {
      writes++
      if (chunk instanceof Uint8Array && chunk.byteLength === 2) twoByte++
      return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest)
    } as typeof write
    try {
      for (let i = 0; i < 20; i++) await a.services.ping.ping(b.getMultiaddrs()[0]!)
    } finally {
      net.Socket.prototype.write = write
    }
    return { writes, twoByte }
  }

  it('sends no lone 2-byte length prefix (plain @libp2p/tcp sends one per frame)', async () => {
    const plain = await lonePrefixWrites(tcp)
    const joined = await lonePrefixWrites(tcpOneWritePerFrame)
    assert.ok(plain.twoByte >= 20, `plain TCP: ${plain.twoByte} lone prefixes in ${plain.writes} writes`)
    assert.equal(joined.twoByte, 0, `${joined.twoByte} lone prefixes in ${joined.writes} writes`)
    assert.ok(joined.writes < plain.writes * 0.7, `writes: ${joined.writes} joined vs ${plain.writes} plain`)
  })

  it('joins a small frame\'s buffers into one, byte for byte; passes a single buffer and a bulk frame through', () => {
    const sent: Array<Uint8Array | Uint8ArrayList> = []
    const conn = joinFrames({ send: (d: Uint8Array | Uint8ArrayList) => { sent.push(d); return true } })
    conn.send(new Uint8ArrayList(Uint8Array.of(0, 3), Uint8Array.of(7, 8, 9)))
    const single = Uint8Array.of(1, 2)
    conn.send(single)
    assert.deepEqual(sent[0], Uint8Array.of(0, 3, 7, 8, 9))
    assert.equal(sent[1], single)
    // A bulk frame is not copied: its prefix's extra write is small beside it.
    const bulk = new Uint8ArrayList(Uint8Array.of(0xff, 0xff), new Uint8Array(JOIN_MAX_BYTES))
    conn.send(bulk)
    assert.equal(sent[2], bulk)
  })
})
