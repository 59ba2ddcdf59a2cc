// Peer adverts: a daemon periodically gossips where it listens, so members that only know a
// bootstrap peer find each other. Unsigned on purpose: a dial is authenticated by Noise against
// the advertised peer id, so a false address costs one failed dial and nothing else.
import { decodeCanonical, encodeCanonical } from './canonical.ts'
import { MalformedError, TooLargeError } from './errors.ts'
import { asObject, int, onlyKeys, str, strList } from './schema.ts'

export interface PeerAdvert {
  readonly type: 'peer-advert'
  readonly network: string
  readonly peerId: string
  readonly addresses: readonly string[]
  readonly at: number
}

export const MAX_PEER_ADVERT_BYTES = 4096

export function peerAdvertTopic (network: string): string {
  return `/medforge/${network}/peers/1`
}

export function encodePeerAdvert (advert: PeerAdvert): Uint8Array {
  return encodeCanonical(advert)
}

export function decodePeerAdvert (data: Uint8Array): PeerAdvert {
  if (data.length > MAX_PEER_ADVERT_BYTES) throw new TooLargeError('peer advert', data.length, MAX_PEER_ADVERT_BYTES)
  const what = 'peer advert'
  const o = asObject(decodeCanonical(data, what), what)
  onlyKeys(o, ['type', 'network', 'peerId', 'addresses', 'at'], what)
  if (o.type !== 'peer-advert') throw new MalformedError(what, `type is ${JSON.stringify(o.type)}`)
  return { type: 'peer-advert', network: str(o, 'network', what, 128), peerId: str(o, 'peerId', what, 128), addresses: strList(o, 'addresses', what, 16), at: int(o, 'at', what) }
}
