// Liveness pings: an answering peer keeps its connection and gets a round-trip time, a hung one
// (the ping protocol opened, never answered) loses it, and the pings of many connections are
// spread over the interval instead of sent in one instant as libp2p's connection monitor does.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { LIVENESS_PROTOCOL, livenessMonitor } from '../src/p2p/liveness-monitor.ts'
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
    if (hung) await node.handle(LIVENESS_PROTOCOL, () => {})
    nodes.push(node)
    return node
  }

  const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

  it('an answering peer keeps its connection, with a round-trip time', async () => {
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
})
