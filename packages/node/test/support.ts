// Shared set-up for the node package's tests: a data directory joined to a toy network.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ToyModel, decodeModuleFile, encodeDistilledSet, encodeModuleFile, headCid, moduleCid } from '@medforge/merge-core'
import type { MergeInput, ToyData } from '@medforge/merge-core'
import { genesisManifestBody, signManifest } from '@medforge/protocol'
import type { GenesisInit, Identity, SignedManifest } from '@medforge/protocol'
import { TOY_ARCHITECTURE, toyWeightsCid } from '../src/daemon/network-model.ts'
import { loadNetworkState } from '../src/daemon/network-state.ts'
import type { NetworkState } from '../src/daemon/network-state.ts'
import { DataDir } from '../src/store/data-dir.ts'
import type { BlobStore } from '../src/store/blob-store.ts'
import type { Ledger } from '../src/store/ledger.ts'
import { createComputeEngine } from '../src/compute/compute-engine.ts'
import type { Compute } from '../src/compute/compute-workers.ts'
import { readVerifiedBlob } from '../src/store/blob-store.ts'

export function tempDir (prefix: string): string {
  return mkdtempSync(join(tmpdir(), `medforge-${prefix}-`))
}

/** A genesis manifest for `members`: the toy model and tasks a, b unless `model` says otherwise. */
export async function toyManifest (members: Identity[], merge: { method: string, params?: Record<string, number | string> }, limits = { maxModuleBytes: 1 << 20, maxMessageBytes: 16384 }, model: Partial<Pick<GenesisInit, 'baseModel' | 'lora' | 'tasks'>> = {}): Promise<SignedManifest> {
  const body = genesisManifestBody({
    networkId: 'toy-unit',
    name: 'Toy unit net',
    baseModel: { architecture: TOY_ARCHITECTURE, weights: toyWeightsCid() },
    tasks: [{ id: 'a', modality: 'synthetic', labels: ['x', 'y'], metric: 'accuracy' }, { id: 'b', modality: 'synthetic', labels: ['x', 'y'], metric: 'accuracy' }],
    lora: { targets: ['encoder'], rank: 2, alpha: 4 },
    ...model,
    merge,
    members: members.map((m, i) => ({ peerId: m.peerId, name: `Member ${i}`, roles: ['contributor'] })),
    quorum: 1,
    limits,
    createdAt: 1_790_000_000_000
  })
  return await signManifest({ body, signatures: [] }, members[0]!)
}

/** An initialised data directory joined to a toy network with itself as the only member. */
export async function joinedDataDir (merge: { method: string, params?: Record<string, number | string> }, limits?: { maxModuleBytes: number, maxMessageBytes: number }, model?: Partial<Pick<GenesisInit, 'baseModel' | 'lora' | 'tasks'>>): Promise<{ dataDir: DataDir, state: NetworkState, identity: Identity }> {
  const dataDir = new DataDir(tempDir('dd'))
  const identity = await dataDir.init('Unit Hospital', { listen: ['/ip4/127.0.0.1/tcp/0'], api: '127.0.0.1:0' })
  const manifest = await toyManifest([identity], merge, limits ?? { maxModuleBytes: 16 << 20, maxMessageBytes: 16384 }, model)
  const state = await loadNetworkState([manifest])
  dataDir.saveChain(state.network, [manifest])
  dataDir.writeConfig({ ...dataDir.config(), networks: [state.network] })
  return { dataDir, state, identity }
}

export const toyModel = new ToyModel()

/** A toy module of task a (odd i) or b (even i) with its distilled set, distinct per i. */
export function toyInput (i: number, height: number): MergeInput<ToyData> {
  const task = i % 2 === 0 ? 'b' : 'a'
  const module = toyModel.train(task, toyModel.makeData(task, 32, `s${i}`), { epochs: 15, seed: `s${i}` })
  return { module, height, task, sampleCount: 32, context: toyModel.makeData(task, 6, `d${i}`) }
}

/** Stores a module file and distilled set and admits the module as ready, as the fetcher would. */
export function storeReadyBundle (ledger: Ledger, blobs: BlobStore, network: string, bundle: { moduleFile: Uint8Array, distilledFile: Uint8Array }, task: string, height: number): string {
  const module = { ...decodeModuleFile(bundle.moduleFile, 'bundle'), author: 'author' }
  const cid = moduleCid(module)
  ledger.admitModule({ network, cid, recordCid: `record-${cid}`, task, height, author: 'author', moduleBlob: blobs.put(encodeModuleFile(module)), distilled: blobs.put(bundle.distilledFile), head: headCid(module) ?? null, samples: 1, parentRoot: 'parent' })
  ledger.markReady(network, cid, 1)
  return cid
}

/** Stores a toy input's blobs and admits it as a ready module, as the fetcher would. */
export function storeReadyModule (ledger: Ledger, blobs: BlobStore, network: string, input: MergeInput<ToyData>): string {
  const data = input.context!
  // Modules on a network name their author (it is part of their CID).
  const module = { ...input.module, author: input.module.author ?? 'author' }
  const moduleBlob = blobs.put(encodeModuleFile(module))
  const distilled = blobs.put(encodeDistilledSet({ task: input.task!, inputs: { shape: [data.y.length, toyModel.spec.inputs], data: data.x }, labels: data.y }))
  const cid = moduleCid(module)
  ledger.admitModule({ network, cid, recordCid: `record-${cid}`, task: input.task!, height: input.height, author: module.author, moduleBlob, distilled, head: headCid(module) ?? null, samples: input.sampleCount ?? 0, parentRoot: 'parent' })
  ledger.markReady(network, cid, 1)
  return cid
}

/** The compute engine in this thread behind the workers' interface: deterministic, easy to debug. */
export function inProcessCompute (blobDir: string): Compute {
  const engine = createComputeEngine({ readBlob: cid => readVerifiedBlob(blobDir, cid) })
  return {
    setNetwork: async (_network, chain) => { await engine.setNetwork(chain) },
    verify: async (network, ref) => engine.verify(network, ref),
    checkClaim: async (network, ref) => engine.checkClaim(network, ref),
    checkPublish: async (network, task, author, m, d) => engine.checkPublish(network, task, author, m, d),
    merge: async (job, options) => (await engine.merge(job, { cancelled: () => options.signal?.aborted === true, onCheckpoint: options.onCheckpoint })).summary,
    stop: async () => {}
  }
}
