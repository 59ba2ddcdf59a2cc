// Finds the other members of a network: every daemon gossips a peer advert (its listen addresses)
// on the network's peers topic, and dials advertised members it is not connected to. Adverts go
// out at start, then at intervals that double up to `maxIntervalMs`, and soon again (and fast
// again) when a peer newly subscribes to the topic (a new connection): every advert reaches every member,
// so a fixed fast rate would cost N² deliveries per interval for nothing once the network knows
// itself (at 50 daemons, adverts every 5 s were a large share of each daemon's CPU).
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { multiaddr } from '@multiformats/multiaddr'
import { MalformedError, TooLargeError, decodePeerAdvert, encodePeerAdvert, peerAdvertTopic } from '@medforge/protocol'
import type { MedforgeLibp2p } from './create-libp2p.ts'

export interface PeerExchangeComponents {
  readonly libp2p: MedforgeLibp2p
  readonly network: string
  readonly isMember: (peerId: string) => boolean
  /** The first interval between adverts (doubled after each up to maxIntervalMs). */
  readonly intervalMs?: number
  readonly maxIntervalMs?: number
  /**
   * Delay of the advert answering a newcomer (adverts prompted within it are sent once): longer
   * than a gossipsub heartbeat, so the mesh that forwards it includes the newcomer's neighbours.
   */
  readonly answerDelayMs?: number
}

export interface PeerExchange { start (): void, stop (): void }

export function createPeerExchange ({ libp2p, network, isMember, intervalMs = 5000, maxIntervalMs = 60_000, answerDelayMs = 1500 }: PeerExchangeComponents): PeerExchange {
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
    interval = intervalMs
    // An advert already due soon answers this newcomer too (a burst of arrivals gets one advert).
    if (dueAt - Date.now() > answerDelayMs) schedule(answerDelayMs)
  }

  const advertise = (): void => {
    const addresses = libp2p.getMultiaddrs().map(a => a.toString()).slice(0, 16)
    if (addresses.length === 0) return
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
