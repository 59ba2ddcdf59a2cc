// Announcements whose parent state root this node does not know yet, parked until it does. Bounded
// in all and per sending peer, and entries expire: a peer can neither fill the pool for everyone
// nor keep parked records alive for ever with parents that never come.
import type { PeerId } from '@libp2p/interface'
import { DEFAULT_PENDING_MAX, DEFAULT_PENDING_PER_PEER, DEFAULT_PENDING_TTL_MS } from '../constants.ts'
import type { RecordSource } from './refusals.ts'

export interface PendingEntry {
  readonly bytes: Uint8Array
  readonly source: RecordSource
  readonly from?: PeerId
}

export interface PendingPoolInit {
  readonly maxEntries?: number
  readonly maxPerPeer?: number
  readonly ttlMs?: number
  readonly now?: () => number
}

export interface PendingPool {
  /** Parks an entry under its parent root; false (and nothing kept) when a bound is reached. */
  park (parentRoot: string, entry: PendingEntry): boolean
  /** Takes every entry waiting for `root`. */
  release (root: string): PendingEntry[]
  readonly size: number
}

export function createPendingPool (init: PendingPoolInit = {}): PendingPool {
  const maxEntries = init.maxEntries ?? DEFAULT_PENDING_MAX
  const maxPerPeer = init.maxPerPeer ?? DEFAULT_PENDING_PER_PEER
  const ttlMs = init.ttlMs ?? DEFAULT_PENDING_TTL_MS
  const now = init.now ?? Date.now
  const byParent = new Map<string, Array<PendingEntry & { at: number }>>()
  const perPeer = new Map<string, number>()
  let size = 0
  const peerKey = (e: PendingEntry): string => e.from?.toString() ?? e.source

  function drop (e: PendingEntry): void {
    size--
    const key = peerKey(e)
    const n = (perPeer.get(key) ?? 1) - 1
    if (n === 0) perPeer.delete(key)
    else perPeer.set(key, n)
  }

  function expire (): void {
    const cutoff = now() - ttlMs
    for (const [parent, list] of byParent) {
      const kept = list.filter(e => e.at >= cutoff)
      for (const e of list) if (e.at < cutoff) drop(e)
      if (kept.length === 0) byParent.delete(parent)
      else if (kept.length !== list.length) byParent.set(parent, kept)
    }
  }

  return {
    get size () { return size },
    park (parentRoot, entry) {
      if (size >= maxEntries) expire()
      const key = peerKey(entry)
      if (size >= maxEntries || (perPeer.get(key) ?? 0) >= maxPerPeer) return false
      const list = byParent.get(parentRoot) ?? []
      list.push({ ...entry, at: now() })
      byParent.set(parentRoot, list)
      perPeer.set(key, (perPeer.get(key) ?? 0) + 1)
      size++
      return true
    },
    release (root) {
      const list = byParent.get(root)
      if (list === undefined) return []
      byParent.delete(root)
      for (const e of list) drop(e)
      return list.filter(e => e.at >= now() - ttlMs)
    }
  }
}
