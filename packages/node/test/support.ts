// Shared set-up for the node package's tests: a data directory joined to a toy network.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PROTOCOL_VERSION, parseManifestBody, signManifest } from '@medforge/protocol'
import type { Identity, SignedManifest } from '@medforge/protocol'
import { TOY_ARCHITECTURE, toyWeightsCid } from '../src/daemon/network-model.ts'
import { loadNetworkState } from '../src/daemon/network-state.ts'
import type { NetworkState } from '../src/daemon/network-state.ts'
import { DataDir } from '../src/store/data-dir.ts'

export function tempDir (prefix: string): string {
  return mkdtempSync(join(tmpdir(), `medforge-${prefix}-`))
}

export async function toyManifest (members: Identity[], merge: { method: string, params?: Record<string, number | string> }, limits = { maxModuleBytes: 1 << 20, maxMessageBytes: 16384 }): Promise<SignedManifest> {
  const body = parseManifestBody({
    protocol: PROTOCOL_VERSION,
    networkId: 'toy-unit',
    name: 'Toy unit net',
    revision: 0,
    network: null,
    parent: null,
    baseModel: { architecture: TOY_ARCHITECTURE, weights: toyWeightsCid() },
    tasks: [{ id: 'a', modality: 'synthetic', labels: ['x', 'y'], metric: 'accuracy' }, { id: 'b', modality: 'synthetic', labels: ['x', 'y'], metric: 'accuracy' }],
    lora: { targets: ['encoder'], rank: 2, alpha: 4 },
    merge: { method: merge.method, params: merge.params ?? {} },
    members: members.map((m, i) => ({ peerId: m.peerId, name: `Member ${i}`, roles: ['contributor'] })),
    quorum: 1,
    limits,
    bootstrap: [],
    createdAt: 1_790_000_000_000
  })
  return await signManifest({ body, signatures: [] }, members[0]!)
}

/** An initialised data directory joined to a toy network with itself as the only member. */
export async function joinedDataDir (merge: { method: string, params?: Record<string, number | string> }, limits?: { maxModuleBytes: number, maxMessageBytes: number }): Promise<{ dataDir: DataDir, state: NetworkState, identity: Identity }> {
  const dataDir = new DataDir(tempDir('dd'))
  const identity = await dataDir.init('Unit Hospital', { listen: ['/ip4/127.0.0.1/tcp/0'], api: '127.0.0.1:0' })
  const manifest = await toyManifest([identity], merge, limits)
  const state = await loadNetworkState([manifest])
  dataDir.saveChain(state.network, [manifest])
  dataDir.writeConfig({ ...dataDir.config(), networks: [state.network] })
  return { dataDir, state, identity }
}
