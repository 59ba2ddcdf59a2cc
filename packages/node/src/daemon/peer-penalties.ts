// Penalties for misbehaviour gossipsub cannot see (a blob that fails its hash, a module that breaks
// the network's policy, a flood), fed into gossipsub's application-specific score so the peer
// drops out of meshes like one that sends invalid messages. Penalties halve every `halfLifeMs`.
export interface PeerPenalties {
  penalize (peerId: string, points: number): void
  /** The (negative) application score gossipsub adds for the peer. */
  score (peerId: string): number
}

export function createPeerPenalties (options: { halfLifeMs?: number, maxPeers?: number } = {}): PeerPenalties {
  const halfLife = options.halfLifeMs ?? 600_000
  const entries = new Map<string, { points: number, at: number }>()
  const decayed = (e: { points: number, at: number }, now: number): number => e.points * Math.pow(0.5, (now - e.at) / halfLife)
  return {
    penalize (peerId, points) {
      const now = Date.now()
      const e = entries.get(peerId)
      if (e === undefined && entries.size >= (options.maxPeers ?? 10_000)) entries.delete(entries.keys().next().value!)
      entries.set(peerId, { points: (e === undefined ? 0 : decayed(e, now)) + points, at: now })
    },
    score (peerId) {
      const e = entries.get(peerId)
      return e === undefined ? 0 : -decayed(e, Date.now())
    }
  }
}
