// Finds the other members of a network: every daemon gossips a peer advert (its listen addresses)
// on the network's peers topic, and dials advertised members it is not connected to. Adverts go
// out at start, then at intervals that double up to `maxIntervalMs`. A member that was (nearly)
// alone on the topic announces itself again soon (and fast again) when a peer subscribes: its
// advert floods to every member, each of which dials it, so it learns the network from those dials.
// Members that already have peers stay quiet when someone new connects: every advert reaches every
// member, and answering every new connection cost N² adverts while a network of N formed (at 50
// daemons, 10 new adverts a second: one daemon took 12,820 advert deliveries in 255 s against
// 1,025 attestation deliveries, and the reconnections that load caused prompted more). A member
// connected to every other member skips its advert: each of them already has its addresses, and
// in a formed network the adverts (each flooded, then announced by IHAVE gossip every heartbeat it
// stayed in the message cache) were most of what an idle network sent (BENCHMARKS, issue 16 part 14).
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { multiaddr } from '@multiformats/multiaddr'
import { MalformedError, TooLargeError, decodePeerAdvert, encodePeerAdvert, peerAdvertTopic } from '@medforge/protocol'
import type { MedforgeLibp2p } from './create-libp2p.ts'

export interface PeerExchangeComponents {
  readonly libp2p: MedforgeLibp2p
  readonly network: string
  readonly isMember: (peerId: string) => boolean
  /** The network's current members (this node among them); absent: always advertise. */
  readonly members?: () => Iterable<string>
  /** The first interval between adverts (doubled after each up to maxIntervalMs). */
  readonly intervalMs?: number
  readonly maxIntervalMs?: number
  /**
   * Delay of the advert a member with few peers sends when a peer subscribes (subscriptions within
   * it prompt one advert): longer than a gossipsub heartbeat, so the mesh that forwards it includes
   * the new neighbour's peers.
   */
  readonly answerDelayMs?: number
  /** A member with at most this many peers on the topic (the new one included) announces itself when one subscribes. */
  readonly fewPeers?: number
}

export interface PeerExchange { start (): void, stop (): void }

export function createPeerExchange ({ libp2p, network, isMember, members, intervalMs = 5000, maxIntervalMs = 60_000, answerDelayMs = 1500, fewPeers = 3 }: PeerExchangeComponents): PeerExchange {
  const topic = peerAdvertTopic(network)
  const pubsub = libp2p.services.pubsub
  let timer: NodeJS.Timeout | undefined
  let interval = intervalMs
  let dueAt = 0
  let stopped = true
  const dialing = new Set<string>()

  const schedule = (delayMs: number): void => {
    clearTimeout(timer)
    if (stopped) return
    // Jitter, so members that learn of a newcomer together do not all advertise in one instant.
    const delay = delayMs * (0.75 + Math.random() / 2)
    dueAt = Date.now() + delay
    timer = setTimeout(tick, delay)
    timer.unref()
  }
  const tick = (): void => {
    advertise()
    schedule(interval)
    interval = Math.min(maxIntervalMs, interval * 2)
  }
  const onSubscriptionChange = (evt: CustomEvent<{ subscriptions: Array<{ topic: string, subscribe: boolean }> }>): void => {
    if (!evt.detail.subscriptions.some(s => s.topic === topic && s.subscribe)) return
    if (pubsub.getSubscribers(topic).length > fewPeers) return
    interval = intervalMs
    // An advert already due soon serves this subscription too (a burst of them gets one advert).
    if (dueAt - Date.now() > answerDelayMs) schedule(answerDelayMs)
  }

  /** Whether some other member is not connected to this node (and so may need its addresses). */
  const someoneMissing = (): boolean => {
    if (members === undefined) return true
    const self = libp2p.peerId.toString()
    const connected = new Set(libp2p.getConnections().map(c => c.remotePeer.toString()))
    for (const m of members()) if (m !== self && !connected.has(m)) return true
    return false
  }

  const advertise = (): void => {
    const addresses = libp2p.getMultiaddrs().map(a => a.toString()).slice(0, 16)
    if (addresses.length === 0 || !someoneMissing()) return
    void pubsub.publish(topic, encodePeerAdvert({ type: 'peer-advert', network, peerId: libp2p.peerId.toString(), addresses, at: Date.now() })).catch(() => {})
  }

  const validator = (_peer: unknown, msg: { data: Uint8Array }): TopicValidatorResult => {
    let advert
    try {
      advert = decodePeerAdvert(msg.data)
    } catch (err) {
      if (err instanceof MalformedError || err instanceof TooLargeError) return TopicValidatorResult.Reject
      throw err
    }
    if (advert.network !== network || !isMember(advert.peerId)) return TopicValidatorResult.Reject
    const self = libp2p.peerId.toString()
    if (advert.peerId !== self && libp2p.getConnections().every(c => c.remotePeer.toString() !== advert.peerId) && !dialing.has(advert.peerId)) {
      const addrs = advert.addresses.flatMap(a => {
        try {
          const ma = multiaddr(a)
          return [ma.toString().includes('/p2p/') ? ma : ma.encapsulate(`/p2p/${advert.peerId}`)]
        } catch {
          return []
        }
      })
      if (addrs.length > 0) {
        dialing.add(advert.peerId)
        void libp2p.dial(addrs, { signal: AbortSignal.timeout(10_000) }).catch(() => {}).finally(() => dialing.delete(advert.peerId))
      }
    }
    return TopicValidatorResult.Accept
  }

  return {
    start () {
      pubsub.topicValidators.set(topic, validator)
      pubsub.subscribe(topic)
      stopped = false
      pubsub.addEventListener('subscription-change', onSubscriptionChange)
      tick()
    },
    stop () {
      stopped = true
      clearTimeout(timer)
      pubsub.removeEventListener('subscription-change', onSubscriptionChange)
      pubsub.topicValidators.delete(topic)
    }
  }
}
