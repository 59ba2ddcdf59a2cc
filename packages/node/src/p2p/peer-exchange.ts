// Finds the other members of a network: every daemon gossips a peer advert (its listen addresses)
// now and then on the network's peers topic, and dials advertised members it is not connected to.
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { multiaddr } from '@multiformats/multiaddr'
import { MalformedError, TooLargeError, decodePeerAdvert, encodePeerAdvert, peerAdvertTopic } from '@medforge/protocol'
import type { MedforgeLibp2p } from './create-libp2p.ts'

export interface PeerExchangeComponents {
  readonly libp2p: MedforgeLibp2p
  readonly network: string
  readonly isMember: (peerId: string) => boolean
  readonly intervalMs?: number
}

export interface PeerExchange { start (): void, stop (): void }

export function createPeerExchange ({ libp2p, network, isMember, intervalMs = 5000 }: PeerExchangeComponents): PeerExchange {
  const topic = peerAdvertTopic(network)
  const pubsub = libp2p.services.pubsub
  let timer: NodeJS.Timeout | undefined
  const dialing = new Set<string>()

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
      advertise()
      timer = setInterval(advertise, intervalMs)
      timer.unref()
    },
    stop () {
      clearInterval(timer)
      pubsub.topicValidators.delete(topic)
    }
  }
}
