// The composite recomputed from a data directory alone (ledger, blobs and checkpoints), whether or
// not the daemon runs: what `medforge composite export` and the testnet summary use. It runs the
// daemon's compute engine in this thread, resuming from the daemon's checkpoints.
import { FOLDING_METHODS } from '@medforge/merge-core'
import type { MergeResult } from '@medforge/merge-core'
import { createComputeEngine } from '../compute/compute-engine.ts'
import { readyMergeJob, storeCheckpoint } from '../compute/checkpoints.ts'
import { createBlobStore } from '../store/blob-store.ts'
import { DataDir } from '../store/data-dir.ts'
import { Ledger } from '../store/ledger.ts'
import { NotJoinedError } from '../errors.ts'

export async function compositeFromDataDir (dir: string, network?: string): Promise<MergeResult> {
  const dataDir = new DataDir(dir)
  const config = dataDir.config()
  const net = network ?? config.networks[0]
  if (net === undefined) throw new NotJoinedError(`${dir} has joined no network`)
  const chain = dataDir.loadChain(net)
  const ledger = new Ledger(dataDir.ledgerPath)
  try {
    const blobs = createBlobStore(dataDir.blobDir)
    const engine = createComputeEngine({ readBlob: cid => blobs.get(cid) })
    await engine.setNetwork(chain)
    const folds = (FOLDING_METHODS as readonly string[]).includes(chain.at(-1)!.body.merge.method)
    const { result } = await engine.merge(readyMergeJob(ledger, blobs, net, folds), {
      cancelled: () => false,
      onCheckpoint: c => { storeCheckpoint(ledger, blobs, net, c) }
    })
    return result
  } finally {
    ledger.close()
  }
}
