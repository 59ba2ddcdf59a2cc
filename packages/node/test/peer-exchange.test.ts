// The peer exchange: adverts back off once the network knows itself, a member that was alone
// announces itself quickly when it gains peers (members with peers stay quiet), and members dial
// only advertised members; a member connected to every other member stays quiet.
import { describe, it, mock } from 'node:test'
import assert from 'node:assert/strict'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { multiaddr } from '@multiformats/multiaddr'
import { decodePeerAdvert, encodePeerAdvert, newIdentity, peerAdvertTopic } from '@medforge/protocol'
import { createPeerExchange } from '../src/p2p/peer-exchange.ts'
import type { MedforgeLibp2p } from '../src/p2p/create-libp2p.ts'

type Listener = (evt: CustomEvent<{ subscriptions: Array<{ topic: string, subscribe: boolean }> }>) => void

async function fakeLibp2p () {
  const self = await newIdentity()
  const published: Array<{ topic: string, at: number }> = []
  const dials: string[][] = []
  const listeners: Listener[] = []
  const subscribers: string[] = []
  const connected: string[] = []
  const validators = new Map<string, (peer: unknown, msg: { data: Uint8Array }) => TopicValidatorResult>()
  const libp2p = {
    peerId: { toString: () => self.peerId },
    getMultiaddrs: () => [multiaddr('/ip4/127.0.0.1/tcp/4001')],
    getConnections: () => connected.map(id => ({ remotePeer: { toString: () => id } })),
    dial: async (addrs: Array<{ toString: () => string }>) => { dials.push(addrs.map(a => a.toString())) },
    services: {
      pubsub: {
        topicValidators: validators,
        subscribe: () => {},
        getSubscribers: (topic: string) => subscribers.filter(t => t === topic),
        publish: async (topic: string, data: Uint8Array) => { decodePeerAdvert(data); published.push({ topic, at: Date.now() }) },
        addEventListener: (_: string, l: Listener) => { listeners.push(l) },
        removeEventListener: (_: string, l: Listener) => { listeners.splice(listeners.indexOf(l), 1) }
      }
    }
  } as unknown as MedforgeLibp2p
  // A peer subscribing to `topic` (gossipsub counts it among the subscribers before it tells us).
  const subscribe = (topic: string): void => { subscribers.push(topic); for (const l of listeners) l(new CustomEvent('subscription-change', { detail: { subscriptions: [{ topic, subscribe: true }] } })) }
  // Ticks (mock timers) until the next periodic advert: the one after it is then 45 s or more away.
  const untilAdvert = (): void => { const n = published.length; for (let t = 0; t < 80 && published.length === n; t++) mock.timers.tick(1000) }
  return { libp2p, self, published, dials, validators, subscribe, listeners, untilAdvert, connected }
}

describe('peer exchange', () => {
  it('advertises at start, then at doubling intervals up to the maximum', async () => {
    const f = await fakeLibp2p()
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 })
    try {
      const px = createPeerExchange({ libp2p: f.libp2p, network: 'n', isMember: () => true, intervalMs: 5000, maxIntervalMs: 60_000 })
      px.start()
      assert.equal(f.published.length, 1)
      // The mock clock moves in 100 ms ticks and a timer's advert is stamped at the end of the tick
      // that fires it, so each gap carries up to one tick of quantisation beside its ±25% jitter.
      const tick = 100
      for (let t = 0; t < 6000; t++) mock.timers.tick(tick)
      // 10 minutes: 5, 10, 20, 40 s, then every 60 s (±25% jitter) — about 13 adverts, not 120.
      assert.ok(f.published.length >= 10 && f.published.length <= 16, `${f.published.length} adverts`)
      const gaps = f.published.slice(1).map((p, i) => p.at - f.published[i]!.at)
      assert.ok(gaps[0]! >= 3750 && gaps[0]! <= 6250 + tick, `first gap ${gaps[0]}`)
      assert.ok(gaps.slice(-3).every(g => g >= 45_000 - tick && g <= 75_000 + tick), `late gaps ${gaps.slice(-3).join(', ')}`)
      px.stop()
      assert.equal(f.listeners.length, 0)
      mock.timers.tick(120_000)
      assert.equal(f.published.length, gaps.length + 1, 'nothing after stop')
    } finally {
      mock.timers.reset()
    }
  })

  it('announces itself within the answer delay when it gains its first peers, once for a burst, and starts the backoff again', async () => {
    const f = await fakeLibp2p()
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 })
    try {
      const px = createPeerExchange({ libp2p: f.libp2p, network: 'n', isMember: () => true, intervalMs: 5000, maxIntervalMs: 60_000, answerDelayMs: 500 })
      px.start()
      for (let t = 0; t < 300; t++) mock.timers.tick(1000)
      f.untilAdvert()
      const before = f.published.length
      f.subscribe('some-other-topic')
      mock.timers.tick(1000)
      assert.equal(f.published.length, before, 'another topic prompts nothing')
      for (let i = 0; i < 2; i++) { f.subscribe(peerAdvertTopic('n')); mock.timers.tick(30) }
      mock.timers.tick(600)
      assert.equal(f.published.length, before + 1, 'one advert for the burst, within the delay')
      mock.timers.tick(7000)
      assert.equal(f.published.length, before + 2, 'the fast interval again')
      px.stop()
    } finally {
      mock.timers.reset()
    }
  })

  it('stays quiet when a peer subscribes while it already has more than a few (no N² adverts as a network forms)', async () => {
    const f = await fakeLibp2p()
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 })
    try {
      const px = createPeerExchange({ libp2p: f.libp2p, network: 'n', isMember: () => true, intervalMs: 5000, maxIntervalMs: 60_000, answerDelayMs: 500, fewPeers: 3 })
      px.start()
      for (let i = 0; i < 3; i++) f.subscribe(peerAdvertTopic('n'))
      for (let t = 0; t < 300; t++) mock.timers.tick(1000)
      f.untilAdvert()
      const start = Date.now()
      // Five minutes in, the backoff is at its 60 s maximum (45-75 s with jitter) and an advert just
      // went out: 20 newcomers in the next 10 s prompt none in the next 40 s.
      for (let i = 0; i < 20; i++) { f.subscribe(peerAdvertTopic('n')); mock.timers.tick(500) }
      mock.timers.tick(30_000)
      const inWindow = f.published.filter(p => p.at > start).length
      assert.equal(inWindow, 0, `${inWindow} adverts in 40 s`)
      px.stop()
    } finally {
      mock.timers.reset()
    }
  })

  it('dials advertised members it is not connected to; refuses non-members and malformed adverts', async () => {
    const f = await fakeLibp2p()
    const member = await newIdentity()
    const stranger = await newIdentity()
    const px = createPeerExchange({ libp2p: f.libp2p, network: 'n', isMember: id => id === member.peerId })
    px.start()
    const validate = f.validators.get(peerAdvertTopic('n'))!
    px.stop()
    const advert = (peerId: string, network = 'n') => ({ data: encodePeerAdvert({ type: 'peer-advert', network, peerId, addresses: ['/ip4/10.0.0.2/tcp/4001'], at: 1 }) })
    assert.equal(validate(null, advert(member.peerId)), TopicValidatorResult.Accept)
    assert.deepEqual(f.dials, [[`/ip4/10.0.0.2/tcp/4001/p2p/${member.peerId}`]])
    assert.equal(validate(null, advert(stranger.peerId)), TopicValidatorResult.Reject)
    assert.equal(validate(null, advert(member.peerId, 'other')), TopicValidatorResult.Reject)
    assert.equal(validate(null, { data: Uint8Array.of(1, 2, 3) }), TopicValidatorResult.Reject)
    assert.equal(f.dials.length, 1)
  })
  it('stays quiet while connected to every other member, and advertises again when one is missing', async () => {
    const f = await fakeLibp2p()
    const others = ['12D3KooWother1', '12D3KooWother2']
    f.connected.push(...others)
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 })
    try {
      const px = createPeerExchange({ libp2p: f.libp2p, network: 'n', isMember: () => true, members: () => [f.self.peerId, ...others], intervalMs: 5000, maxIntervalMs: 60_000 })
      px.start()
      for (let t = 0; t < 300; t++) mock.timers.tick(1000)
      assert.equal(f.published.length, 0, 'adverts while every member is connected')
      f.connected.pop()
      f.untilAdvert()
      assert.equal(f.published.length, 1, 'no advert within a periodic interval (at most 75 s) once a member is missing')
      px.stop()
    } finally {
      mock.timers.reset()
    }
  })
})
