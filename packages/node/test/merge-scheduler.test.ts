// The scheduler folds with checkpoints: a module that sorts last costs one step, one that sorts
// first recomputes from the start, a restart resumes from the stored prefix, a change of the ready
// set abandons the running fold, and every result is the root merge-core computes directly.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mergeModules } from '@medforge/merge-core'
import type { MergeInput, ToyData } from '@medforge/merge-core'
import { createComputeWorkers } from '../src/compute/compute-workers.ts'
import type { Compute } from '../src/compute/compute-workers.ts'
import { createMergeScheduler } from '../src/daemon/merge-scheduler.ts'
import type { MergeSummary } from '../src/compute/merge-job.ts'
import { createBlobStore } from '../src/store/blob-store.ts'
import { Ledger } from '../src/store/ledger.ts'
import { inProcessCompute, joinedDataDir, storeReadyBundle, storeReadyModule, toyInput, toyModel } from './support.ts'
import { readyMergeJob } from '../src/compute/checkpoints.ts'
import { VIT_ARCHITECTURE, loadBaseWeights, syntheticVitBundle } from '@medforge/clinical'

async function setUp (merge: { method: string, params?: Record<string, number> }, compute: (blobDir: string) => Compute) {
  const { dataDir, state } = await joinedDataDir(merge)
  const ledger = new Ledger(dataDir.ledgerPath)
  const blobs = createBlobStore(dataDir.blobDir)
  const c = compute(dataDir.blobDir)
  await c.setNetwork(state.network, state.chain)
  const merged: Array<{ summary: MergeSummary, resumedFrom: number }> = []
  const make = () => createMergeScheduler({
    ledger, blobs, compute: c, network: state.network, folds: () => state.method.name === 'medforge-fusion',
    onMerged: (summary, t) => { merged.push({ summary, resumedFrom: t.resumedFrom }) },
    onError: err => { throw err }
  })
  const current: Array<MergeInput<ToyData>> = []
  // Network modules name their author (storeReadyModule stores them so): merge the same here.
  const add = (input: MergeInput<ToyData>): void => { current.push({ ...input, module: { ...input.module, author: 'author' } }); storeReadyModule(ledger, blobs, state.network, input) }
  const direct = async (): Promise<string> => (await mergeModules(current, state.method, { evaluator: toyModel.evaluator() as never })).stateRoot
  return { ledger, blobs, compute: c, merged, make, add, direct, state }
}

describe('merge scheduler', () => {
  it('resumes Fusion folds from checkpoints and matches merge-core', async () => {
    const t = await setUp({ method: 'medforge-fusion', params: { budget: 8 } }, inProcessCompute)
    t.add(toyInput(1, 1)); t.add(toyInput(2, 2))
    const scheduler = t.make()
    await scheduler.schedule()
    assert.equal(t.merged.at(-1)?.summary.stateRoot, await t.direct())
    assert.equal(t.merged.at(-1)?.resumedFrom, 0)

    t.add(toyInput(3, 3)) // sorts last: one new step
    await scheduler.schedule()
    assert.deepEqual([t.merged.at(-1)?.summary.stateRoot, t.merged.at(-1)?.resumedFrom], [await t.direct(), 2])

    t.add(toyInput(4, 0)) // sorts first: everything after it is recomputed
    await scheduler.schedule()
    assert.deepEqual([t.merged.at(-1)?.summary.stateRoot, t.merged.at(-1)?.resumedFrom], [await t.direct(), 0])

    const before = t.merged.length
    await scheduler.schedule()
    assert.equal(t.merged.length, before, 'an unchanged set is not merged again')

    const restarted = t.make()
    await restarted.schedule()
    assert.deepEqual([t.merged.at(-1)?.summary.stateRoot, t.merged.at(-1)?.resumedFrom], [await t.direct(), 4], 'a restart resumes from the full checkpoint')
    await restarted.stop()
    await scheduler.stop()
    t.ledger.close()
  })

  it('coalesces bursts of requests: bounded work, latest set wins', async () => {
    const t = await setUp({ method: 'linear' }, inProcessCompute)
    const scheduler = t.make()
    const waits = [1, 2, 3, 4, 5].map(i => { t.add(toyInput(i, 1)); return scheduler.schedule() })
    await Promise.all(waits)
    assert.ok(t.merged.length <= 2, `${t.merged.length} merges for 5 requests`)
    assert.equal(scheduler.current?.inputs.length, 5)
    assert.equal(scheduler.current?.stateRoot, await t.direct())
    await scheduler.stop()
    t.ledger.close()
  })

  it('on worker threads: a module arriving mid-fold abandons it, and the restart resumes from the checkpointed prefix', async () => {
    // ViT-sized modules: each fold step takes the compute thread seconds, so the module that
    // arrives when the 2-module prefix is checkpointed lands in the middle of step 3.
    const lora = { targets: ['q_proj', 'v_proj'], rank: 4, alpha: 8 }
    const { dataDir, state } = await joinedDataDir({ method: 'medforge-fusion', params: { budget: 8 } }, undefined, {
      baseModel: { architecture: VIT_ARCHITECTURE, weights: loadBaseWeights().cid }, lora, tasks: [{ id: 'a', modality: 'x', labels: ['x', 'y'], metric: 'auc' }]
    })
    const ledger = new Ledger(dataDir.ledgerPath)
    const blobs = createBlobStore(dataDir.blobDir)
    const workers = createComputeWorkers({ blobDir: dataDir.blobDir })
    const merged: MergeSummary[] = []
    let onSecondCheckpoint = (): void => {}
    try {
      await workers.setNetwork(state.network, state.chain)
      const add = (i: number): void => { storeReadyBundle(ledger, blobs, state.network, syntheticVitBundle(`m${i}`, 'a', { ...lora, classes: 2, imagesPerClass: 4 }), 'a', i) }
      for (let i = 1; i <= 4; i++) add(i)
      const scheduler = createMergeScheduler({
        ledger, blobs, network: state.network, folds: () => true,
        compute: { merge: async (job, options) => await workers.merge(job, { ...options, onCheckpoint: c => { options.onCheckpoint(c); if (c.count === 2) onSecondCheckpoint() } }) },
        onMerged: summary => { merged.push(summary) },
        onError: err => { throw err }
      })
      let second: Promise<void> | undefined
      let runningThen = false
      onSecondCheckpoint = () => {
        onSecondCheckpoint = () => {}
        runningThen = scheduler.running
        add(5)
        second = scheduler.schedule()
      }
      await scheduler.schedule()
      await second
      assert.ok(runningThen && second !== undefined)
      assert.deepEqual(merged.map(m => m.inputs.length), [5], 'the abandoned fold reports nothing')
      assert.ok(merged[0]!.resumedFrom >= 2 && merged[0]!.resumedFrom < 5, `resumed from the checkpointed prefix (${merged[0]!.resumedFrom})`)
      const local = inProcessCompute(dataDir.blobDir)
      await local.setNetwork(state.network, state.chain)
      const direct = await local.merge(readyMergeJob(ledger, blobs, state.network, false), { onCheckpoint: () => {} })
      assert.equal(merged[0]!.stateRoot, direct.stateRoot, 'the same root as one uninterrupted fold')
      await scheduler.stop()
    } finally {
      await workers.stop()
      ledger.close()
    }
  })
})
