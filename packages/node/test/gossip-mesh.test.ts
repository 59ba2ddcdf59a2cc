// The daemon's gossip mesh is thin (create-libp2p.ts: D = 4, gossip to few peers; BENCHMARKS issue
// 16 part 11), and attestations go to the mesh only, not flooded to every peer. Both must still
// carry every message past members that drop everything: 16 nodes of the daemon's stack, each
// dialling 4 others at random (seeded), a quarter of them black holes whose validator ignores every
// message (gossipsub then never forwards it). Every honest node must receive every message, flooded
// or mesh-only, from every honest publisher.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { Xoshiro128 } from '@medforge/merge-core'
import { newIdentity } from '@medforge/protocol'
import { MESH_ONLY, createMedforgeLibp2p } from '../src/p2p/create-libp2p.ts'
import type { MedforgeLibp2p } from '../src/p2p/create-libp2p.ts'

const TOPIC = 'medforge/test/mesh'
const NODES = 16
const DIALS = 4
const BLACK_HOLES = new Set([1, 6, 11, 14])

async function until (what: string, ok: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

describe('a thin gossip mesh with black holes in it', { timeout: 120_000 }, () => {
  const nodes: MedforgeLibp2p[] = []
  const received: Array<Set<string>> = []

  before(async () => {
    for (let i = 0; i < NODES; i++) {
      const node = await createMedforgeLibp2p({ privateKey: (await newIdentity()).privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], maxMessageBytes: 16384 })
      const seen = new Set<string>()
      node.services.pubsub.subscribe(TOPIC)
      if (BLACK_HOLES.has(i)) node.services.pubsub.topicValidators.set(TOPIC, () => TopicValidatorResult.Ignore)
      else node.services.pubsub.addEventListener('message', e => { seen.add(new TextDecoder().decode(e.detail.data)) })
      nodes.push(node)
      received.push(seen)
    }
    const rng = Xoshiro128.fromString('gossip-mesh')
    for (let i = 0; i < NODES; i++) {
      const targets = new Set<number>()
      while (targets.size < DIALS) {
        const j = rng.nextU32() % NODES
        if (j !== i) targets.add(j)
      }
      for (const j of targets) await nodes[i]!.dial(nodes[j]!.getMultiaddrs()[0]!)
    }
    // Meshes form at heartbeats (1 s): every node in one, then two more heartbeats to settle.
    await until('the meshes', () => nodes.every(n => n.services.pubsub.getMeshPeers(TOPIC).length > 0), 30_000)
    await new Promise(resolve => setTimeout(resolve, 2000))
  })

  after(async () => {
    await Promise.all(nodes.map(async n => { await n.stop() }))
  })

  it('every honest node receives every message, flooded or mesh-only', async () => {
    const honest = [...nodes.keys()].filter(i => !BLACK_HOLES.has(i))
    const sent: Array<{ from: number, text: string }> = []
    for (const i of honest) {
      for (const mode of ['flood', 'mesh-only'] as const) {
        const text = `${mode} from ${i}`
        sent.push({ from: i, text })
        await nodes[i]!.services.pubsub.publish(TOPIC, new TextEncoder().encode(text), mode === 'flood' ? undefined : MESH_ONLY)
      }
    }
    // A publisher does not hear itself.
    const missing = (): string[] => honest.flatMap(i => sent.filter(m => m.from !== i && !received[i]!.has(m.text)).map(m => `node ${i}: ${m.text}`))
    // Deliveries take milliseconds on loopback; gossip's repair path (IHAVE/IWANT) takes heartbeats.
    await until('every message at every honest node', () => missing().length === 0, 30_000)
      .catch(err => { assert.fail(`${(err as Error).message}; missing ${missing().length}: ${missing().slice(0, 10).join('; ')}`) })
  })
})
