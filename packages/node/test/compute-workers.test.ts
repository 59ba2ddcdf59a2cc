// The compute threads: verification answers with a verdict, a job past its deadline has its thread
// stopped (typed error) and the next job runs on a fresh one, and results match the in-thread engine.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createComputeWorkers } from '../src/compute/compute-workers.ts'
import { moduleRef, readyMergeJob } from '../src/compute/checkpoints.ts'
import { ComputeDeadlineError } from '../src/errors.ts'
import { createBlobStore } from '../src/store/blob-store.ts'
import { Ledger } from '../src/store/ledger.ts'
import { inProcessCompute, joinedDataDir, storeReadyModule, toyInput } from './support.ts'

describe('compute threads', () => {
  it('verify, deadline, fresh thread, and the same summary as the in-thread engine', async () => {
    const { dataDir, state } = await joinedDataDir({ method: 'medforge-fusion', params: { budget: 30 } })
    const ledger = new Ledger(dataDir.ledgerPath)
    const blobs = createBlobStore(dataDir.blobDir)
    const cids = [1, 2, 3].map(i => storeReadyModule(ledger, blobs, state.network, toyInput(i, i)))
    const workers = createComputeWorkers({ blobDir: dataDir.blobDir, mergeDeadlineMs: 1 })
    try {
      await workers.setNetwork(state.network, state.chain)
      const row = ledger.getModule(state.network, cids[0]!)!
      assert.deepEqual(await workers.verify(state.network, moduleRef(row)), { ok: true })
      const wrongTask = await workers.verify(state.network, { ...moduleRef(row), task: 'nope' })
      assert.equal(wrongTask.ok, false)
      assert.equal(!wrongTask.ok && wrongTask.reason, 'unknown_task')

      const job = readyMergeJob(ledger, blobs, state.network, true)
      await assert.rejects(workers.merge(job, { onCheckpoint: () => {} }), (err: unknown) => err instanceof ComputeDeadlineError && /within 0 s/.test(err.message))
      assert.deepEqual(await workers.verify(state.network, moduleRef(row)), { ok: true }, 'the check thread is unaffected')
    } finally {
      await workers.stop()
    }
    const fresh = createComputeWorkers({ blobDir: dataDir.blobDir })
    try {
      await fresh.setNetwork(state.network, state.chain)
      const job = readyMergeJob(ledger, blobs, state.network, true)
      const onThread = await fresh.merge(job, { onCheckpoint: () => {} })
      const local = inProcessCompute(dataDir.blobDir)
      await local.setNetwork(state.network, state.chain)
      const inThread = await local.merge(job, { onCheckpoint: () => {} })
      assert.deepEqual(onThread, inThread)
      assert.equal(onThread.inputs.length, 3)
    } finally {
      await fresh.stop()
      ledger.close()
    }
  })
})
