import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { IncompatibleModulesError, InvalidDistilledSetError, InvalidMergeOptionsError, SAMPLE_RATIO_CAP, Xoshiro128, canonicalMethod, canonicalOrder, combineProduct, compositeModule, decodeDistilledSet, encodeDistilledSet, ldlFactor, ldlSolve, loraScaling, mergeModules, newLoraConfig, regmean } from '../src/index.ts'
import type { F32Tensor, LoraModule, MergeInput } from '../src/index.ts'

const LAYER = 'base_model.model.l0.q'
const N = 6

function module (A: number[][], B: number[][]): LoraModule {
  const r = A.length
  return {
    config: newLoraConfig({ baseModel: 'toy', r, loraAlpha: r, targetModules: ['q'] }),
    layers: new Map([[LAYER, { A: { shape: [r, N], data: Float32Array.from(A.flat()) }, B: { shape: [B.length, r], data: Float32Array.from(B.flat()) } }]]),
    heads: new Map()
  }
}

function randomMatrix (rng: Xoshiro128, rows: number, cols: number): number[][] {
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => rng.nextU32() / 2 ** 32 - 0.5))
}

/** Mean xᵀx of rows drawn with their energy in `dims` (other coordinates near zero). */
function gramOn (rng: Xoshiro128, dims: readonly number[], rows = 200): F32Tensor {
  const g = new Float64Array(N * N)
  for (let r = 0; r < rows; r++) {
    const x = Array.from({ length: N }, (_, k) => (dims.includes(k) ? 1 : 0.01) * (rng.nextU32() / 2 ** 32 - 0.5))
    for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) g[i * N + j] = g[i * N + j]! + x[i]! * x[j]! / rows
  }
  return { shape: [N, N], data: Float32Array.from(g) }
}

/** The dense update s·B·A in binary64, [out, N]. */
function update (m: LoraModule): Float64Array {
  const p = m.layers.get(LAYER)!
  const r = p.A.shape[0]!
  const out = p.B.shape[0]!
  const s = loraScaling(m.config)
  const w = new Float64Array(out * N)
  for (let o = 0; o < out; o++) for (let i = 0; i < N; i++) { let v = 0; for (let k = 0; k < r; k++) v += p.B.data[o * r + k]! * p.A.data[k * N + i]!; w[o * N + i] = s * v }
  return w
}

/** ‖X·(W − V)ᵀ‖² per row of X drawn from `gram`: tr((W − V)·G·(W − V)ᵀ). */
function errorOn (W: Float64Array, V: Float64Array, gram: F32Tensor, out: number): number {
  let e = 0
  for (let o = 0; o < out; o++) for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) e += (W[o * N + i]! - V[o * N + i]!) * gram.data[i * N + j]! * (W[o * N + j]! - V[o * N + j]!)
  return e
}

function inputs (rng: Xoshiro128): Array<MergeInput & { inputGrams: Map<string, F32Tensor> }> {
  return [
    { module: module(randomMatrix(rng, 2, N), randomMatrix(rng, 3, 2)), height: 1, task: 'a', sampleCount: 100, inputGrams: new Map([[LAYER, gramOn(rng, [0, 1, 2])]]) },
    { module: module(randomMatrix(rng, 2, N), randomMatrix(rng, 3, 2)), height: 2, task: 'b', sampleCount: 100, inputGrams: new Map([[LAYER, gramOn(rng, [3, 4, 5])]]) }
  ]
}

describe('LDLᵀ solves', () => {
  it('property: S·X = M for random positive-definite S, and indefinite matrices are refused', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 4 }), fc.integer(), (n, r, seed) => {
      const rng = Xoshiro128.fromString(`ldl|${seed}`)
      const Q = randomMatrix(rng, n, n)
      const S = new Float64Array(n * n)
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) { let v = i === j ? 0.1 : 0; for (let k = 0; k < n; k++) v += Q[k]![i]! * Q[k]![j]!; S[i * n + j] = v }
      const M = Float64Array.from(randomMatrix(rng, n, r).flat())
      const X = ldlSolve(ldlFactor(S, n)!, M, r)
      for (let i = 0; i < n; i++) for (let c = 0; c < r; c++) { let v = 0; for (let k = 0; k < n; k++) v += S[i * n + k]! * X[k * r + c]!; assert.ok(Math.abs(v - M[i * r + c]!) < 1e-8) }
      const negative = Float64Array.from(S)
      negative[(n - 1) * n + n - 1] = -1 - negative[(n - 1) * n + n - 1]!
      assert.equal(n === 1 || ldlFactor(negative, n) === undefined, true)
    }), { numRuns: 60 })
  })
})

describe('MedForge-RegMean', () => {
  it('is the least-squares fit: the composite equals (Σ ΔWᵢ·Gᵢ)·(Σ Gᵢ)⁻¹ computed densely', async () => {
    const xs = inputs(Xoshiro128.fromString('dense'))
    const got = update(compositeModule(await mergeModules(xs, { name: 'medforge-regmean', shrink: 1, balance: 'module' }))!)
    // Dense reference: W = (Σ ΔWᵢ G̃ᵢ) S⁻¹ with G̃ trace-normalised to N and the same ridge.
    const S = new Float64Array(N * N)
    const rhs = new Float64Array(3 * N)
    for (const x of xs) {
      const g = x.inputGrams.get(LAYER)!
      let tr = 0
      for (let i = 0; i < N; i++) tr += g.data[i * N + i]!
      const gn = Array.from(g.data, v => v * N / tr)
      const dw = update(x.module)
      for (let k = 0; k < N * N; k++) S[k] = S[k]! + gn[k]!
      for (let o = 0; o < 3; o++) for (let j = 0; j < N; j++) { let v = 0; for (let k = 0; k < N; k++) v += dw[o * N + k]! * gn[k * N + j]!; rhs[o * N + j] = rhs[o * N + j]! + v }
    }
    for (let i = 0; i < N; i++) S[i * N + i] = S[i * N + i]! + 1e-4
    // W·S = rhs  ⇔  S·Wᵀ = rhsᵀ
    const rhsT = new Float64Array(N * 3)
    for (let o = 0; o < 3; o++) for (let j = 0; j < N; j++) rhsT[j * 3 + o] = rhs[o * N + j]!
    const WT = ldlSolve(ldlFactor(S, N)!, rhsT, 3)
    for (let o = 0; o < 3; o++) for (let j = 0; j < N; j++) assert.ok(Math.abs(got[o * N + j]! - WT[j * 3 + o]!) < 1e-5, `entry [${o}, ${j}]`)
  })

  it('keeps each update on its own inputs where the contributors\' inputs differ, where the mean halves both', async () => {
    const xs = inputs(Xoshiro128.fromString('disjoint'))
    const rm = update(compositeModule(await mergeModules(xs, { name: 'medforge-regmean', shrink: 1 }))!)
    const mean = update(combineProduct(xs[0]!.module, xs[1]!.module, 0.5, 0.5))
    for (const x of xs) {
      const own = update(x.module)
      const g = x.inputGrams.get(LAYER)!
      const scale = errorOn(own, new Float64Array(own.length), g, 3)
      assert.ok(errorOn(rm, own, g, 3) < 0.02 * scale, `RegMean keeps ${x.task}'s outputs on its inputs`)
      assert.ok(errorOn(mean, own, g, 3) > 0.15 * scale, `the mean loses part of ${x.task}'s update`)
    }
  })

  it('a contributor cannot buy weight by scaling its statistics; without statistics it counts with the identity', async () => {
    const xs = inputs(Xoshiro128.fromString('scale'))
    const base = await mergeModules(xs, { name: 'medforge-regmean' })
    const loud = xs.map((x, i) => i === 0 ? { ...x, inputGrams: new Map([[LAYER, { shape: [N, N], data: x.inputGrams.get(LAYER)!.data.map(v => v * 1024) }]]) } : x)
    assert.equal((await mergeModules(loud, { name: 'medforge-regmean' })).stateRoot, base.stateRoot)
    const bare = xs.map(({ inputGrams: _grams, ...x }) => x)
    const identity = xs.map(x => ({ ...x, inputGrams: new Map([[LAYER, { shape: [N, N], data: Float32Array.from({ length: N * N }, (_, k) => k % (N + 1) === 0 ? 1 : 0) }]]) }))
    assert.equal((await mergeModules(bare, { name: 'medforge-regmean' })).stateRoot, (await mergeModules(identity, { name: 'medforge-regmean' })).stateRoot)
  })

  it('an experiment\'s per-layer reweighing moves the shared-input compromise towards the heavier contributor', () => {
    const rng = Xoshiro128.fromString('reweigh')
    // Both contributors' inputs span the same coordinates: RegMean can only split the difference.
    const xs = inputs(rng).map(x => ({ ...x, inputGrams: new Map([[LAYER, gramOn(rng, [0, 1, 2, 3])]]) }))
    const method = canonicalMethod({ name: 'medforge-regmean', shrink: 1, balance: 'module' })
    if (method.name !== 'medforge-regmean') throw new Error('unreachable')
    const ordered = canonicalOrder(xs)
    const seen: Array<readonly number[]> = []
    const plain = regmean(ordered, method)
    const same = regmean(ordered, method, (layer, w) => { assert.equal(layer, LAYER); seen.push(w); return w })
    assert.deepEqual(seen, [[1, 1]])
    assert.deepEqual(update(same.module), update(plain.module))
    const favourFirst = update(regmean(ordered, method, (_layer, w) => [w[0]! * 9, w[1]!]).module)
    const [first, second] = ordered.map(x => ({ own: update(x.module), gram: x.inputGrams!.get(LAYER)! }))
    const even = update(plain.module)
    assert.ok(errorOn(favourFirst, first!.own, first!.gram, 3) < 0.5 * errorOn(even, first!.own, first!.gram, 3), 'the first contributor\'s outputs are fitted closer')
    assert.ok(errorOn(favourFirst, second!.own, second!.gram, 3) > errorOn(even, second!.own, second!.gram, 3), 'at the second\'s expense')
  })

  it('each task has one say, shared by its modules by (bounded) samples or equally; or each module one', async () => {
    const rng = Xoshiro128.fromString('balance')
    const [a, b] = inputs(rng)
    const a2 = { ...a!, module: module(randomMatrix(rng, 2, N), randomMatrix(rng, 3, 2)), height: 3 }
    const counted = [{ ...a!, sampleCount: 300 }, { ...b!, sampleCount: 50 }, { ...a2, sampleCount: 100 }]
    assert.deepEqual((await mergeModules(counted, { name: 'medforge-regmean' })).weights, [0.75, 1, 0.25])
    assert.deepEqual((await mergeModules(counted, { name: 'medforge-regmean', balance: 'task' })).weights, [0.5, 1, 0.5])
    assert.deepEqual((await mergeModules(counted, { name: 'medforge-regmean', balance: 'module' })).weights, [1, 1, 1])
    // An overstated count counts at most SAMPLE_RATIO_CAP times the task's smallest.
    const inflated = [{ ...counted[0]!, sampleCount: 2 ** 40 }, counted[1]!, counted[2]!]
    assert.deepEqual((await mergeModules(inflated, { name: 'medforge-regmean' })).weights, [SAMPLE_RATIO_CAP / (SAMPLE_RATIO_CAP + 1), 1, 1 / (SAMPLE_RATIO_CAP + 1)])
    await assert.rejects(mergeModules([a!, { ...b!, sampleCount: undefined }], { name: 'medforge-regmean' }), (e: unknown) => e instanceof InvalidMergeOptionsError && /needs a positive sample count/.test(e.message))
  })

  it('property: the state root does not depend on arrival order', async () => {
    await fc.assert(fc.asyncProperty(fc.integer(), fc.integer({ min: 2, max: 5 }), async (seed, count) => {
      const rng = Xoshiro128.fromString(`order|${seed}`)
      const xs: MergeInput[] = Array.from({ length: count }, (_, i) => ({
        module: module(randomMatrix(rng, 2, N), randomMatrix(rng, 3, 2)),
        height: 1 + (i % 3),
        task: i % 2 === 0 ? 'a' : 'b',
        sampleCount: 1 + rng.nextU32() % 5000,
        inputGrams: new Map([[LAYER, gramOn(rng, [i % N, (i + 2) % N], 20)]])
      }))
      const shuffled = [...xs].sort(() => rng.nextU32() / 2 ** 32 - 0.5)
      assert.equal((await mergeModules(shuffled, { name: 'medforge-regmean' })).stateRoot, (await mergeModules(xs, { name: 'medforge-regmean' })).stateRoot)
    }), { numRuns: 25 })
  })

  it('refuses statistics of the wrong shape and bad options', async () => {
    const xs = inputs(Xoshiro128.fromString('refuse'))
    const wrong = [xs[0]!, { ...xs[1]!, inputGrams: new Map([[LAYER, { shape: [2, 2], data: new Float32Array(4) }]]) }]
    await assert.rejects(mergeModules(wrong, { name: 'medforge-regmean' }), (e: unknown) => e instanceof IncompatibleModulesError && /gives \[2, 2\], the layer takes 6 inputs/.test(e.message))
    const zero = [xs[0]!, { ...xs[1]!, inputGrams: new Map([[LAYER, { shape: [N, N], data: new Float32Array(N * N) }]]) }]
    await assert.rejects(mergeModules(zero, { name: 'medforge-regmean' }), (e: unknown) => e instanceof InvalidMergeOptionsError && /trace 0/.test(e.message))
    // Slightly indefinite statistics (within the decoder's tolerance, summed) still merge, the same on every peer.
    const dip = Float32Array.from({ length: N * N }, (_, k) => k === N * N - 1 ? -0.002 : k % (N + 1) === 0 ? 1 : 0)
    const tilted = [xs[0]!, { ...xs[1]!, inputGrams: new Map([[LAYER, { shape: [N, N], data: dip }]]) }]
    const once = await mergeModules(tilted, { name: 'medforge-regmean', shrink: 1, balance: 'module' })
    assert.equal((await mergeModules([...tilted].reverse(), { name: 'medforge-regmean', shrink: 1, balance: 'module' })).stateRoot, once.stateRoot)
    assert.throws(() => canonicalMethod({ name: 'medforge-regmean', shrink: 1.5 }), InvalidMergeOptionsError)
    assert.throws(() => canonicalMethod({ name: 'medforge-regmean', balance: 'sites' as 'task' }), InvalidMergeOptionsError)
    assert.deepEqual(canonicalMethod({ name: 'medforge-regmean' }), { name: 'medforge-regmean', shrink: 0.9, balance: 'samples' })
  })
})

describe('input statistics in a distilled set', () => {
  const set = { task: 'a', inputs: { shape: [2, 3], data: new Float32Array(6) }, labels: Int32Array.of(0, 1) }
  const gram = gramOn(Xoshiro128.fromString('set'), [0, 1, 2, 3, 4, 5])
  const symmetric: F32Tensor = { shape: [N, N], data: Float32Array.from({ length: N * N }, (_, k) => { const i = Math.floor(k / N); const j = k % N; return gram.data[Math.min(i, j) * N + Math.max(i, j)]! }) }

  it('round-trips, and sets without them decode as before', () => {
    const back = decodeDistilledSet(encodeDistilledSet({ ...set, inputGrams: new Map([[LAYER, symmetric]]) }), 'd', { classes: 2 })
    assert.deepEqual([...back.inputGrams!.get(LAYER)!.data], [...symmetric.data])
    assert.equal(decodeDistilledSet(encodeDistilledSet(set), 'd', { classes: 2 }).inputGrams, undefined)
  })

  it('refuses matrices that are not square, symmetric, finite and positive semi-definite, naming the tensor', () => {
    const bad = (data: Float32Array, shape = [N, N]): void => {
      try {
        decodeDistilledSet(encodeDistilledSet({ ...set, inputGrams: new Map([[LAYER, { shape, data }]]) }), 'distilled set x', { classes: 2 })
      } catch (e) {
        // Non-finite values are refused by the safetensors layer, the rest by the distilled set's checks.
        assert.ok(e instanceof InvalidDistilledSetError || (e as Error).name === 'InvalidSafetensorsError', String(e))
        assert.match((e as Error).message, /distilled set x.*input_gram\.base_model\.model\.l0\.q/)
        return
      }
      assert.fail('accepted')
    }
    bad(new Float32Array(N * 2), [N, 2])
    const asym = Float32Array.from(symmetric.data); asym[1] = asym[1]! + 1; bad(asym)
    const nan = Float32Array.from(symmetric.data); nan[0] = NaN; bad(nan)
    const indefinite = Float32Array.from({ length: N * N }, (_, k) => k === 0 ? -1 : k % (N + 1) === 0 ? 1 : 0); bad(indefinite)
    bad(new Float32Array(N * N))
  })

  it('property: any byte flip in a set with statistics decodes or fails with InvalidDistilledSetError', () => {
    const bytes = encodeDistilledSet({ ...set, inputGrams: new Map([[LAYER, symmetric]]) })
    fc.assert(fc.property(fc.integer({ min: 0, max: bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, xor) => {
      const copy = Uint8Array.from(bytes)
      copy[at] = copy[at]! ^ xor
      try { decodeDistilledSet(copy, 'd', { classes: 2 }) } catch (e) { assert.ok(e instanceof InvalidDistilledSetError || (e as Error).name === 'InvalidSafetensorsError', String(e)) }
    }), { numRuns: 300 })
  })
})
