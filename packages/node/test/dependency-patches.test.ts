// The two fixes in patches/ (applied by patch-package on install) do what the daemon relies on:
// Yamux grants window only once half of it is used (as go-yamux and rust-yamux do, not after every
// data frame), and the length-prefixed decoder stops at an empty buffer without throwing.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { LengthPrefixedDecoder } from '@libp2p/utils'
import { tcp } from '@libp2p/tcp'
import type { Stream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

const PROTOCOL = '/medforge-test/sink/1'

describe('dependency patches', () => {
  const nodes: Libp2p[] = []
  after(async () => { for (const n of nodes) await n.stop() })

  /** A sender and a receiver; the receiver counts what it reads and the socket writes it makes. */
  async function pair (): Promise<{ sender: Libp2p, receiver: Libp2p, received: () => number, receiverWrites: () => number, stop: () => void }> {
    const make = async (): Promise<Libp2p> => {
      const node = await createLibp2p({ addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux({ streamOptions: { initialStreamWindowSize: 4 * 1024 * 1024, maxStreamWindowSize: 16 * 1024 * 1024 } })] })
      nodes.push(node)
      return node
    }
    const [sender, receiver] = [await make(), await make()]
    let received = 0
    await receiver.handle(PROTOCOL, async (stream: Stream) => {
      for await (const chunk of stream) received += chunk.byteLength
    })
    const port = Number(receiver.getMultiaddrs()[0]!.toString().split('/')[4])
    const write = net.Socket.prototype.write
    let writes = 0
    net.Socket.prototype.write = function (this: net.Socket, ...args: unknown[]) {
      if (this.localPort === port) writes++
      return (write as (...a: unknown[]) => boolean).apply(this, args)
    } as typeof write
    return { sender, receiver, received: () => received, receiverWrites: () => writes, stop: () => { net.Socket.prototype.write = write } }
  }

  async function send (stream: Stream, messages: number, bytes: number): Promise<void> {
    for (let i = 0; i < messages; i++) {
      if (!stream.send(new Uint8Array(bytes).fill(i & 0xff))) await stream.onDrain()
      // One Yamux data frame each: wait for the socket between sends, as gossip does between messages.
      if (bytes < 1024) await new Promise(resolve => setImmediate(resolve))
    }
  }

  async function until (condition: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 20_000
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise(resolve => setTimeout(resolve, 10))
    }
  }

  it('Yamux: 200 small messages on one stream cost the receiver almost no frames back (the release sends a window update after each)', async () => {
    const p = await pair()
    try {
      const stream = await p.sender.dialProtocol(p.receiver.getMultiaddrs()[0]!, PROTOCOL)
      await new Promise(resolve => setTimeout(resolve, 200)) // the stream's opening frames settle
      const before = p.receiverWrites()
      await send(stream, 200, 200)
      await until(() => p.received() === 200 * 200, 'every message')
      const writes = p.receiverWrites() - before
      assert.ok(writes < 10, `the receiver wrote ${writes} times while reading 200 messages`)
      await stream.close()
    } finally {
      p.stop()
    }
  })

  it('Yamux: a transfer many times the window still completes (window updates do come at half)', async () => {
    const p = await pair()
    try {
      const stream = await p.sender.dialProtocol(p.receiver.getMultiaddrs()[0]!, PROTOCOL)
      await send(stream, 160, 256 * 1024) // 40 MiB through a 4-16 MiB window
      await until(() => p.received() === 160 * 256 * 1024, 'all 40 MiB')
      await stream.close()
    } finally {
      p.stop()
    }
  })

  it('length-prefixed decoder: whole frames decode without the length decoder being asked about an empty buffer', () => {
    let throws = 0
    const lengthDecoder = (data: Uint8ArrayList | Uint8Array): number => {
      if (data.length < 2) { throws++; throw new RangeError('Could not decode int16BE') }
      return data instanceof Uint8Array ? (data[0]! << 8) | data[1]! : data.getUint16(0)
    }
    const decoder = new LengthPrefixedDecoder({ lengthDecoder, encodingLength: () => 2 })
    const frames = [...decoder.decode(Uint8Array.of(0, 1, 7, 0, 2, 8, 9, 0, 1, 10))].map(f => [...f.subarray()])
    assert.deepEqual(frames, [[7], [8, 9], [10]])
    assert.equal(throws, 0)
    // A frame split across reads: the length prefix cut in half still waits for the rest.
    assert.deepEqual([...decoder.decode(Uint8Array.of(0))], [])
    assert.deepEqual([...decoder.decode(Uint8Array.of(2, 5, 6))].map(f => [...f.subarray()]), [[5, 6]])
  })
})
