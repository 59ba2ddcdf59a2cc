// A peer that stops answering for a while (a long GC, a loaded machine, a laptop lid) keeps its
// connection. libp2p's default liveness check pings every connection every 10 s and aborts it when
// a ping takes over 5 s: with 50 daemons on two cores it cut ~1,500 healthy connections while the
// network started, each redialled with a new handshake, identify, gossip meshes and a sync.
// Here one daemon is frozen (SIGSTOP) for 16 s, long enough for the old check to abort whatever
// the timing of its pings; the other daemon must still hold the very same connection afterwards.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createTestnet, startDaemon, waitFor } from './support/testnet-fixture.ts'
import type { RunningDaemon, Testnet } from './support/testnet-fixture.ts'

const FREEZE_MS = 16_000

interface PeerView { peerId: string, connections: string[], status: string }

async function peersOf (d: RunningDaemon): Promise<PeerView[]> {
  return (await d.get('/peers')).peers as PeerView[]
}

describe('connection liveness', { timeout: 90_000 }, () => {
  let net: Testnet | undefined
  const daemons: RunningDaemon[] = []
  after(async () => {
    for (const d of daemons) d.child.kill('SIGCONT')
    await Promise.all(daemons.map(async d => await d.stop()))
    net?.cleanup()
  })

  it('a peer frozen for 16 s keeps its connection (no abort, no redial)', async () => {
    net = await createTestnet({ sites: 2, method: 'linear' })
    const [a, b] = net.sites
    daemons.push(await startDaemon(a!))
    daemons.push(await startDaemon(b!, { bootstrap: daemons[0]!.addresses }))
    const [watcher, frozen] = daemons as [RunningDaemon, RunningDaemon]
    const before = await waitFor('the two daemons to connect', async () => {
      const peers = await peersOf(watcher)
      return peers.length === 1 && peers[0]!.peerId === frozen.peerId ? peers[0]! : undefined
    })

    frozen.child.kill('SIGSTOP')
    const seen: string[] = []
    const until = Date.now() + FREEZE_MS
    try {
      while (Date.now() < until) {
        const peers = await peersOf(watcher)
        seen.push(peers.map(p => `${p.peerId.slice(-6)} ${p.status} ${p.connections.join(',')}`).join('; ') || 'no peers')
        await new Promise(resolve => setTimeout(resolve, 1000))
      }
    } finally {
      frozen.child.kill('SIGCONT')
    }

    const afterward = await peersOf(watcher)
    const lost = seen.filter(s => !s.includes(before.connections[0]!))
    assert.deepEqual(lost, [], `the watcher lost its connection to the frozen peer during the freeze: ${seen.join(' | ')}`)
    assert.equal(afterward.length, 1)
    // The same connection, not a new one (a redial would come from a new ephemeral port).
    assert.deepEqual(afterward[0]!.connections, before.connections)
    assert.equal((await frozen.status()).peers, 1, 'the frozen daemon is connected once it resumes')
  })
})
