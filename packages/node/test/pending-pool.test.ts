// The pending pool: bounded in all and per peer, entries expire, release hands back what waited.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { peerIdFromString } from '@libp2p/peer-id'
import { newIdentity } from '@medforge/protocol'
import { createPendingPool } from '../src/daemon/pending-pool.ts'

const bytes = (n: number): Uint8Array => new Uint8Array([n])

describe('pending pool', () => {
  it('parks by parent and releases every entry waiting for a root, once', async () => {
    const pool = createPendingPool()
    const from = peerIdFromString((await newIdentity()).peerId)
    assert.ok(pool.park('root-a', { bytes: bytes(1), source: 'gossip', from }))
    assert.ok(pool.park('root-a', { bytes: bytes(2), source: 'gossip', from }))
    assert.ok(pool.park('root-b', { bytes: bytes(3), source: 'sync', from }))
    assert.equal(pool.size, 3)
    assert.deepEqual(pool.release('root-a').map(e => e.bytes[0]), [1, 2])
    assert.deepEqual(pool.release('root-a'), [])
    assert.equal(pool.size, 1)
  })

  it('bounds the pool in all and per peer: one peer cannot fill it for everyone', async () => {
    const pool = createPendingPool({ maxEntries: 5, maxPerPeer: 3 })
    const [a, b] = await Promise.all([newIdentity(), newIdentity()]).then(ids => ids.map(i => peerIdFromString(i.peerId)))
    const parked = Array.from({ length: 10 }, (_, i) => pool.park(`p${i}`, { bytes: bytes(i), source: 'gossip', from: a }))
    assert.deepEqual(parked.filter(Boolean).length, 3, 'peer a stops at its quota')
    assert.ok(pool.park('q1', { bytes: bytes(1), source: 'gossip', from: b }))
    assert.ok(pool.park('q2', { bytes: bytes(2), source: 'gossip', from: b }))
    assert.equal(pool.park('q3', { bytes: bytes(3), source: 'gossip', from: b }), false, 'the pool is full')
    pool.release('p0')
    assert.ok(pool.park('q3', { bytes: bytes(3), source: 'gossip', from: b }), 'room again after a release')
  })

  it('expires entries whose parent never came', () => {
    let now = 0
    const pool = createPendingPool({ maxEntries: 2, ttlMs: 1000, now: () => now })
    assert.ok(pool.park('x', { bytes: bytes(1), source: 'sync' }))
    now = 500
    assert.ok(pool.park('y', { bytes: bytes(2), source: 'local' }))
    now = 1200
    assert.ok(pool.park('z', { bytes: bytes(3), source: 'gossip' }), 'the expired entry made room')
    assert.deepEqual(pool.release('x'), [])
    assert.equal(pool.release('y').length, 1)
  })
})
