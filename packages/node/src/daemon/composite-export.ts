// The composite recomputed from a data directory alone (ledger, blobs and checkpoints), whether or
// not the daemon runs: what `medforge composite export` and the testnet summary use.
import type { MergeResult } from '@medforge/merge-core'
import { createBlobStore } from '../store/blob-store.ts'
import { DataDir } from '../store/data-dir.ts'
import { Ledger } from '../store/ledger.ts'
import { createMergeScheduler } from './merge-scheduler.ts'
import { createInputLoader } from './module-verifier.ts'
import { loadNetworkState } from './network-state.ts'
import { NotJoinedError } from '../errors.ts'

export async function compositeFromDataDir (dir: string, network?: string): Promise<MergeResult> {
  const dataDir = new DataDir(dir)
  const config = dataDir.config()
  const net = network ?? config.networks[0]
  if (net === undefined) throw new NotJoinedError(`${dir} has joined no network`)
  const state = await loadNetworkState(dataDir.loadChain(net))
  const ledger = new Ledger(dataDir.ledgerPath)
  try {
    const blobs = createBlobStore(dataDir.blobDir)
    let result: MergeResult | undefined
    let failure: Error | undefined
    const scheduler = createMergeScheduler({
      ledger,
      blobs,
      network: state,
      loadInputs: createInputLoader(state, ledger, blobs).load,
      onMerged: r => { result = r },
      onError: err => { failure = err }
    })
    await scheduler.schedule()
    if (failure !== undefined) throw failure
    return result!
  } finally {
    ledger.close()
  }
}
