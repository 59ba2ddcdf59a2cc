import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { calibrateGaussianSigma, classificationMetrics, gaussianDelta, rocAuc } from '../src/index.ts'

describe('clinical metrics', () => {
  it('ROC AUC handles ties and matches hand-computed values', () => {
    assert.equal(rocAuc([0.1, 0.4, 0.35, 0.8], [false, false, true, true]), 0.75)
    assert.equal(rocAuc([0.5, 0.5], [false, true]), 0.5)
    assert.ok(Number.isNaN(rocAuc([0.1, 0.2], [true, true])))
  })

  it('accuracy, F1 and the confusion matrix for a binary task', () => {
    // predictions: 1, 0, 1, 1 for labels 1, 0, 0, 1
    const m = classificationMetrics([0.2, 0.8, 0.9, 0.1, 0.4, 0.6, 0.3, 0.7], 2, Int32Array.of(1, 0, 0, 1))
    assert.deepEqual(m.confusion, [[1, 1], [0, 2]])
    assert.equal(m.accuracy, 0.75)
    assert.equal(m.f1, 0.8)
    assert.equal(m.auc, 1, 'both positives score above both negatives')
  })

  it('one-vs-rest macro AUC for three classes', () => {
    const p = [0.8, 0.1, 0.1, 0.1, 0.8, 0.1, 0.1, 0.1, 0.8]
    assert.equal(classificationMetrics(p, 3, Int32Array.of(0, 1, 2)).auc, 1)
  })
})

describe('Gaussian mechanism calibration', () => {
  it('achieves the requested delta and is tighter than the classical bound', () => {
    for (const [eps, delta] of [[0.5, 1e-5], [1, 1e-5], [4, 1e-6]] as const) {
      const sigma = calibrateGaussianSigma(eps, delta, Math.SQRT2)
      assert.ok(gaussianDelta(sigma, eps, Math.SQRT2) <= delta * (1 + 1e-6))
      assert.ok(gaussianDelta(sigma * 0.99, eps, Math.SQRT2) > delta, 'smallest such sigma')
      if (eps < 1) assert.ok(sigma < Math.SQRT2 * Math.sqrt(2 * Math.log(1.25 / delta)) / eps)
    }
    // Balle & Wang report sigma ≈ 3.73 for ε = 1, δ = 1e-5, Δ = 1 (classical: 4.84).
    assert.ok(Math.abs(calibrateGaussianSigma(1, 1e-5, 1) - 3.73) < 0.02)
  })
})
