// Liveness pings: an answering peer keeps its connection and gets a round-trip time, a hung one
// (the ping protocol opened, never answered) loses it, the pings of many connections are spread
// over the interval instead of sent in one instant as libp2p's connection monitor does, pings
// between monitors share one stream per connection (a new one when the peer reset it), and the
// server bounds what a peer may send.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { byteStream } from '@libp2p/utils'
import { LIVENESS_PROTOCOL, PING_PROTOCOL, livenessMonitor } from '../src/p2p/liveness-monitor.ts'
import type { LivenessMonitor, LivenessMonitorInit } from '../src/p2p/liveness-monitor.ts'

describe('liveness monitor', () => {
  const nodes: Libp2p[] = []
  after(async () => { for (const n of nodes) await n.stop() })

  // A fresh object each time: libp2p writes the key it generates into the options it is given.
  const listen = (): Parameters<typeof createLibp2p>[0] => ({ addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()], connectionMonitor: { enabled: false } })

  async function watcher (init: LivenessMonitorInit): Promise<Libp2p<{ liveness: LivenessMonitor }>> {
    const node = await createLibp2p({ ...listen(), services: { liveness: livenessMonitor(init) } })
    nodes.push(node)
    return node
  }

  /** A peer that answers pings, or (hung) one that opens the ping protocol and never answers. */
  async function peer (hung = false): Promise<Libp2p> {
    const node = hung ? await createLibp2p(listen()) : await createLibp2p({ ...listen(), services: { ping: ping() } })
    if (hung) for (const protocol of [LIVENESS_PROTOCOL, PING_PROTOCOL]) await node.handle(protocol, () => {})
    nodes.push(node)
    return node
  }

  const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

  it('a peer with only /ipfs/ping keeps its connection, with a round-trip time', async () => {
    const w = await watcher({ intervalMs: 300, timeoutMs: 250 })
    const p = await peer()
    const conn = await w.dial(p.getMultiaddrs()[0]!)
    await sleep(1500) // the first ping within one interval, then one per interval
    assert.equal(conn.status, 'open')
    assert.deepEqual(w.getConnections(p.peerId).map(c => c.id), [conn.id])
    assert.equal(typeof conn.rtt, 'number', 'a round-trip time was measured')
  })

  it('a hung peer\'s connection is closed within interval + timeout', async () => {
    const w = await watcher({ intervalMs: 300, timeoutMs: 250 })
    const p = await peer(true)
    const conn = await w.dial(p.getMultiaddrs()[0]!)
    const deadline = Date.now() + 3000
    while (conn.status === 'open' && Date.now() < deadline) await sleep(50)
    assert.notEqual(conn.status, 'open', 'the connection to a peer that never answers was not closed')
    assert.equal(w.getConnections(p.peerId).length, 0)
  })

  it('spreads the pings of many connections over the interval', async () => {
    const w = await watcher({ intervalMs: 2000, timeoutMs: 1000 })
    const firstPing = new Map<string, number>()
    const peers = await Promise.all(Array.from({ length: 8 }, async () => await peer()))
    for (const p of peers) {
      // Each peer notes when it is first pinged, then answers as @libp2p/ping does.
      await p.unhandle(LIVENESS_PROTOCOL)
      await p.handle(LIVENESS_PROTOCOL, async stream => {
        if (!firstPing.has(p.peerId.toString())) firstPing.set(p.peerId.toString(), Date.now())
        for await (const chunk of stream) stream.send(chunk)
      })
    }
    await Promise.all(peers.map(async p => await w.dial(p.getMultiaddrs()[0]!)))
    const deadline = Date.now() + 5000
    while (firstPing.size < peers.length && Date.now() < deadline) await sleep(50)
    assert.equal(firstPing.size, peers.length, 'every connection was pinged within the interval')
    const times = [...firstPing.values()]
    // Eight random phases in 2 s all within 200 ms of each other: a chance of about 1 in a million.
    assert.ok(Math.max(...times) - Math.min(...times) > 200, `first pings within ${Math.max(...times) - Math.min(...times)} ms of each other`)
    for (const p of peers) assert.equal(w.getConnections(p.peerId)[0]?.status, 'open')
  })
  /**
   * A peer that echoes liveness pings and counts them, the streams opened and the streams that
   * carried a ping (one just opened may not have yet); `resetAfterEcho`: its service restarts after every ping.
   */
  async function echoPeer (resetAfterEcho = false): Promise<{ node: Libp2p, streams: () => number, streamsWithPings: () => number, pings: () => number }> {
    const node = await createLibp2p({ ...listen() })
    nodes.push(node)
    let streams = 0
    let streamsWithPings = 0
    let pings = 0
    await node.handle(LIVENESS_PROTOCOL, async stream => {
      streams++
      let first = true
      for await (const chunk of stream) {
        if (first) { streamsWithPings++; first = false }
        pings += chunk.byteLength / 32
        stream.send(chunk)
        if (resetAfterEcho) stream.abort(new Error('service restarted'))
      }
    })
    return { node, streams: () => streams, streamsWithPings: () => streamsWithPings, pings: () => pings }
  }

  it('pings a monitor over one stream per connection, many times', async () => {
    const w = await watcher({ intervalMs: 200, timeoutMs: 150, minPingGapMs: 100 })
    const p = await echoPeer()
    const conn = await w.dial(p.node.getMultiaddrs()[0]!)
    await sleep(1500)
    assert.equal(conn.status, 'open')
    assert.equal(typeof conn.rtt, 'number', 'a round-trip time was measured')
    assert.ok(p.pings() >= 4, `${p.pings()} pings in 1.5 s at one per 200 ms`)
    assert.equal(p.streams(), 1, `${p.streams()} streams for ${p.pings()} pings`)
  })

  it('replaces a kept stream the peer reset between pings, keeping the connection', async () => {
    // A stream per ping, as with /ipfs/ping: the timeout leaves room for opening one on a busy machine.
    const w = await watcher({ intervalMs: 300, timeoutMs: 250, minPingGapMs: 100 })
    const p = await echoPeer(true)
    const conn = await w.dial(p.node.getMultiaddrs()[0]!)
    await sleep(1500)
    const [pings, streams, carried] = [p.pings(), p.streams(), p.streamsWithPings()]
    assert.ok(pings >= 3, `${pings} pings answered in 1.5 s at one per 300 ms`)
    assert.equal(carried, pings, 'each ping after a reset went on a new stream')
    // The monitor may have just opened the next one, its ping not yet arrived.
    assert.ok(streams - carried <= 1, `${streams} streams opened for ${pings} pings`)
    assert.equal(conn.status, 'open', 'a reset between pings was counted as a failed ping')
    assert.deepEqual(w.getConnections(p.node.peerId).map(c => c.id), [conn.id])
  })

  it('two monitors keep their connection and measure it', async () => {
    const a = await watcher({ intervalMs: 200, timeoutMs: 150, minPingGapMs: 100 })
    const b = await watcher({ intervalMs: 200, timeoutMs: 150, minPingGapMs: 100 })
    const conn = await a.dial(b.getMultiaddrs()[0]!)
    await sleep(1200)
    assert.equal(conn.status, 'open')
    assert.equal(typeof conn.rtt, 'number')
    assert.equal(typeof b.getConnections(a.peerId)[0]?.rtt, 'number', 'the listener pinged the connection too')
    const kept = (n: Libp2p): number => n.getConnections().flatMap(c => c.streams).filter(s => s.protocol === LIVENESS_PROTOCOL).length
    assert.equal(kept(a), 2, 'one stream each way, kept between pings')
  })

  it('a peer that answers, then hangs, loses its connection', async () => {
    const w = await watcher({ intervalMs: 200, timeoutMs: 200, minPingGapMs: 100 })
    const p = await createLibp2p({ ...listen() })
    nodes.push(p)
    let answered = 0
    await p.handle(LIVENESS_PROTOCOL, async stream => {
      for await (const chunk of stream) if (answered++ === 0) stream.send(chunk)
    })
    const conn = await w.dial(p.getMultiaddrs()[0]!)
    const deadline = Date.now() + 3000
    while (conn.status === 'open' && Date.now() < deadline) await sleep(50)
    assert.ok(answered >= 2, 'the first ping was answered and a second sent')
    assert.notEqual(conn.status, 'open', 'the connection to a peer that stopped answering was not closed')
  })

  it('resets a stream that pings too often or sends more than one ping unanswered', async () => {
    const server = await watcher({ intervalMs: 60_000, minPingGapMs: 500 })
    const client = await createLibp2p({ ...listen() })
    nodes.push(client)
    const conn = await client.dial(server.getMultiaddrs()[0]!)
    const ping = (): Uint8Array => crypto.getRandomValues(new Uint8Array(32))

    const fast = byteStream(await conn.newStream(LIVENESS_PROTOCOL))
    const first = ping()
    await fast.write(first)
    assert.deepEqual(new Uint8Array((await fast.read({ bytes: 32 })).subarray()), first, 'a ping is echoed')
    await fast.write(ping()) // at once: under 500 ms after the first
    await assert.rejects(fast.read({ bytes: 32, signal: AbortSignal.timeout(2000) }), (err: Error) => err.name !== 'TimeoutError', 'a second ping within the gap was echoed')

    const flood = byteStream(await conn.newStream(LIVENESS_PROTOCOL))
    await flood.write(new Uint8Array(64))
    const got = await flood.read({ bytes: 64, signal: AbortSignal.timeout(2000) }).then(b => b.byteLength, (err: Error) => err)
    assert.ok(got instanceof Error && got.name !== 'TimeoutError', `64 bytes unanswered got ${String(got)}`)
    assert.equal(conn.status, 'open', 'only the stream is lost, not the connection')
  })
})
