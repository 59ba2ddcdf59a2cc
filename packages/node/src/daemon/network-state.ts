// A joined network as the daemon sees it: the verified manifest chain, the validation context for
// its gossip, its merge method and the genesis state root every history starts from.
import { createHash } from 'node:crypto'
import { mergeModules } from '@medforge/merge-core'
import type { MergeMethod } from '@medforge/merge-core'
import { topics, verifyManifestChain } from '@medforge/protocol'
import type { ManifestBody, Member, SignedManifest, TaskSpec, ValidationContext } from '@medforge/protocol'
import type { NetworkModel } from './network-model.ts'
import type { MergeSummary } from '../compute/merge-job.ts'
import { modelFor } from './network-model.ts'

export interface NetworkState {
  readonly network: string
  readonly manifest: ManifestBody
  readonly chain: readonly SignedManifest[]
  readonly members: ReadonlyMap<string, Member>
  readonly revoked: ReadonlySet<string>
  readonly tasks: ReadonlyMap<string, TaskSpec>
  readonly topics: { readonly modules: string, readonly state: string }
  readonly method: MergeMethod
  readonly model: NetworkModel
  readonly genesisRoot: string
  /** The composite of no modules (the genesis), as a merge reports it. */
  readonly genesis: MergeSummary
}

export async function loadNetworkState (chain: readonly SignedManifest[]): Promise<NetworkState> {
  const { current, network, revoked } = await verifyManifestChain(chain)
  const model = modelFor(current)
  const method = { name: current.merge.method, ...current.merge.params } as unknown as MergeMethod
  const genesis = await mergeModules([], method, { evaluator: model.evaluator() })
  return {
    network,
    manifest: current,
    chain,
    members: new Map(current.members.map(m => [m.peerId, m])),
    revoked,
    tasks: new Map(current.tasks.map(t => [t.id, t])),
    topics: topics(network),
    method,
    model,
    genesisRoot: genesis.stateRoot,
    genesis: { stateRoot: genesis.stateRoot, engineVersion: genesis.engineVersion, method: genesis.method, inputs: [], metrics: {}, resumedFrom: 0 }
  }
}

export function validationContext (state: NetworkState, lookups: Pick<ValidationContext, 'isKnownRecord' | 'rootHeight' | 'isComputedRoot'>): ValidationContext {
  return {
    network: state.network,
    members: state.members,
    revoked: state.revoked,
    quorum: state.manifest.quorum,
    tasks: new Set(state.tasks.keys()),
    chain: state.chain,
    maxMessageBytes: state.manifest.limits.maxMessageBytes,
    now: Date.now(),
    ...lookups
  }
}

/** sha2-256 of the module CIDs in canonical order, each followed by a newline (StateAttestation.modulesHash). */
export function modulesHash (orderedCids: readonly string[]): Uint8Array {
  const h = createHash('sha256')
  for (const cid of orderedCids) h.update(`${cid}\n`)
  return new Uint8Array(h.digest())
}
