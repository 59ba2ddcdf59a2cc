// The scheduler folds with checkpoints: a module that sorts last costs one step, one that sorts
// first recomputes from the start, a restart resumes from the stored prefix, and every result is
// the root merge-core computes directly.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ToyModel, mergeModules } from '@medforge/merge-core'
import type { MergeInput, ToyData } from '@medforge/merge-core'
import { createMergeScheduler } from '../src/daemon/merge-scheduler.ts'
import { createBlobStore } from '../src/store/blob-store.ts'
import { Ledger } from '../src/store/ledger.ts'
import { joinedDataDir } from './support.ts'

const model = new ToyModel()
const input = (i: number, height: number): MergeInput<ToyData> => {
  const task = i % 2 === 0 ? 'a' : 'b'
  return { module: model.train(task, model.makeData(task, 32, `s${i}`), { epochs: 15, seed: `s${i}` }), height, task, sampleCount: 32, context: model.makeData(task, 6, `d${i}`) }
}

describe('merge scheduler', () => {
  it('resumes Fusion folds from checkpoints and matches merge-core', async () => {
    const { dataDir, state } = await joinedDataDir({ method: 'medforge-fusion', params: { budget: 8 } })
    const ledger = new Ledger(dataDir.ledgerPath)
    const blobs = createBlobStore(dataDir.blobDir)
    const current: MergeInput[] = [input(1, 1), input(2, 2)]
    const runs: Array<{ root: string, resumedFrom: number }> = []
    const make = () => createMergeScheduler({
      ledger, blobs, network: state, loadInputs: () => [...current],
      onMerged: (r, t) => { runs.push({ root: r.stateRoot, resumedFrom: t.resumedFrom }) },
      onError: err => { throw err }
    })
    const direct = async (): Promise<string> => (await mergeModules(current, state.method, { evaluator: model.evaluator() as never })).stateRoot
    const scheduler = make()
    await scheduler.schedule()
    assert.deepEqual(runs.at(-1), { root: await direct(), resumedFrom: 0 })

    current.push(input(3, 3)) // sorts last: one new step
    await scheduler.schedule()
    assert.deepEqual(runs.at(-1), { root: await direct(), resumedFrom: 2 })

    current.push(input(4, 0)) // sorts first: everything after it is recomputed
    await scheduler.schedule()
    assert.deepEqual(runs.at(-1), { root: await direct(), resumedFrom: 0 })

    const before = runs.length
    await scheduler.schedule()
    assert.equal(runs.length, before, 'an unchanged set is not merged again')

    const restarted = make()
    await restarted.schedule()
    assert.deepEqual(runs.at(-1), { root: await direct(), resumedFrom: 4 }, 'a restart resumes from the full checkpoint')
    await restarted.stop()
    await scheduler.stop()
    ledger.close()
  })

  it('coalesces bursts of requests: bounded work, latest set wins', async () => {
    const { dataDir, state } = await joinedDataDir({ method: 'linear' })
    const ledger = new Ledger(dataDir.ledgerPath)
    const current: MergeInput[] = []
    let merges = 0
    const scheduler = createMergeScheduler({
      ledger, blobs: createBlobStore(dataDir.blobDir), network: state, loadInputs: () => [...current],
      onMerged: () => { merges++ }, onError: err => { throw err }
    })
    const all = [input(1, 1), input(2, 1), input(3, 1), input(4, 1), input(5, 1)]
    const waits = all.map(i => { current.push(i); return scheduler.schedule() })
    await Promise.all(waits)
    assert.ok(merges <= 2, `${merges} merges for 5 requests`)
    assert.equal(scheduler.current?.inputs.length, 5)
    assert.equal(scheduler.current?.stateRoot, (await mergeModules(all, { name: 'linear' })).stateRoot)
    await scheduler.stop()
    ledger.close()
  })
})
