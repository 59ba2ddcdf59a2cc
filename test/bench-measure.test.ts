// The benchmark harness's statistics (scripts/bench/measure.ts): the figures BENCHMARKS.md reports
// are only as right as these.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { percentile, statsOf } from '../scripts/bench/measure.ts'

describe('bench statistics', () => {
  it('p95 of 20 samples is the 19th smallest, p50 the 10th, p100 the largest', () => {
    const xs = Array.from({ length: 20 }, (_, i) => 20 - i) // 20 … 1, unsorted on purpose
    assert.equal(percentile(xs, 0.95), 19)
    assert.equal(percentile(xs, 0.5), 10)
    assert.equal(percentile(xs, 1), 20)
    assert.equal(percentile(xs, 0), 1)
    assert.equal(percentile([7], 0.95), 7)
    assert.throws(() => percentile([], 0.5), RangeError)
  })

  it('property: the nearest-rank percentile has at least p of the samples at or below it, and fewer strictly below', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: 1, maxLength: 60 }), fc.double({ min: 0.01, max: 1, noNaN: true }), (xs, p) => {
      const v = percentile(xs, p)
      assert.ok(xs.includes(v))
      assert.ok(xs.filter(x => x <= v).length >= p * xs.length)
      assert.ok(xs.filter(x => x < v).length < p * xs.length)
    }))
  })

  it('median of an even count is the mean of the middle two; min and max are the extremes', () => {
    assert.deepEqual(statsOf([4, 1, 3, 2]), { median: 2.5, min: 1, max: 4, samples: 4 })
    assert.deepEqual(statsOf([5]), { median: 5, min: 5, max: 5, samples: 1 })
  })
})
