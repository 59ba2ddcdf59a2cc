import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { IncompatibleModulesError, InvalidMergeOptionsError, ToyModel, Xoshiro128, combine, combineProduct, fusionStep, loraScaling, headCid, mergeModules, moduleCid, newLoraConfig, canonicalOrder, canonicalMethod, compositeModule, mergeComposite } from '../src/index.ts'
import { parseLoraConfig } from '../src/lora-config.ts'
import { loraModuleFromTensors, moduleTensors } from '../src/lora-module.ts'
import { dropAndRescale } from '../src/merge/data-free.ts'
import { electAndMerge, keepTopK, weightedSum } from '../src/merge/f32-ops.ts'
import { SIMD_CHUNK, SIMD_GROUP, weightedSumSimd } from '../src/merge/f32-simd.ts'
import { fuse } from '../src/merge/fusion.ts'
import type { LoraModule, MergeInput, MergeMethod, OrderedInput, ToyData, FusionState } from '../src/index.ts'
import { toyInputs } from './toy-inputs.ts'

const golden = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'golden.json'), 'utf8')) as {
  moduleCids: string[], headCids: string[], stateRoots: Record<string, string>
}
const model = new ToyModel()
const inputs = toyInputs(model)
const evaluator = model.evaluator()

function permutations<T> (xs: readonly T[]): T[][] {
  if (xs.length <= 1) return [[...xs]]
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map(p => [x, ...p]))
}

function randomModule (rng: Xoshiro128, shape = { r: 2, inp: 5, out: 3 }): LoraModule {
  const rand = (n: number): Float32Array => Float32Array.from({ length: n }, () => (rng.nextU32() / 2 ** 32 - 0.5))
  return {
    config: newLoraConfig({ baseModel: 'toy', r: shape.r, loraAlpha: 4, targetModules: ['q', 'v'] }),
    layers: new Map([
      ['base_model.model.l0.q', { A: { shape: [shape.r, shape.inp], data: rand(shape.r * shape.inp) }, B: { shape: [shape.out, shape.r], data: rand(shape.out * shape.r) } }],
      ['base_model.model.l0.v', { A: { shape: [shape.r, shape.inp], data: rand(shape.r * shape.inp) }, B: { shape: [shape.out, shape.r], data: rand(shape.out * shape.r) } }]
    ]),
    heads: new Map()
  }
}

describe('golden vectors', () => {
  it('module and head CIDs of the toy fixtures', () => {
    assert.deepEqual(inputs.map(i => moduleCid(i.module)), golden.moduleCids)
    assert.deepEqual(inputs.map(i => headCid(i.module)), golden.headCids)
  })

  for (const [key, expected] of Object.entries(golden.stateRoots)) {
    it(`state root of ${key}`, async () => {
      const result = await mergeModules(inputs, JSON.parse(key) as MergeMethod, { evaluator })
      assert.equal(result.stateRoot, expected)
      // mergeComposite is the same merge before its root: same composite, weights and steps.
      const { stateRoot: _root, ...merged } = result
      assert.deepEqual(await mergeComposite(inputs, JSON.parse(key) as MergeMethod, { evaluator }), merged)
    })
  }
})

describe('order independence', () => {
  for (const key of Object.keys(golden.stateRoots)) {
    it(`every permutation gives the same state root: ${key}`, async () => {
      for (const perm of permutations(inputs)) {
        const result = await mergeModules(perm, JSON.parse(key) as MergeMethod, { evaluator })
        assert.equal(result.stateRoot, golden.stateRoots[key])
      }
    })
  }

  it('property: random module sets, shuffled, merge to the same root with every data-free method', async () => {
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 1, max: 5 }), fc.string(), fc.array(fc.nat(), { minLength: 5, maxLength: 5 }),
      fc.constantFrom<MergeMethod>({ name: 'linear' }, { name: 'task-arithmetic' }, { name: 'ties', density: 0.4, majoritySign: 'frequency' }, { name: 'dare', density: 0.6 }, { name: 'dare', density: 0.3, combine: 'ties' }),
      async (n, seed, keys, method) => {
        const rng = Xoshiro128.fromString(seed)
        const set: MergeInput[] = Array.from({ length: n }, (_, i) => ({ module: randomModule(rng), height: i % 2, weight: (i + 1) / 4 }))
        const shuffled = set.map((x, i) => ({ x, k: keys[i]! })).sort((a, b) => a.k - b.k).map(e => e.x)
        const a = await mergeModules(set, method)
        const b = await mergeModules(shuffled, method)
        assert.equal(a.stateRoot, b.stateRoot)
      }), { numRuns: 60 })
  })

  it('property: Fusion and Mixture roots do not depend on arrival order', async () => {
    await fc.assert(fc.asyncProperty(fc.shuffledSubarray([0, 1, 2, 3], { minLength: 2, maxLength: 4 }), fc.constantFrom<MergeMethod>({ name: 'medforge-fusion', budget: 12 }, { name: 'medforge-fusion-product', budget: 12 }, { name: 'medforge-mixture', budget: 12 }), async (picked, method) => {
      const four = toyInputs(model, 4)
      const chosen = picked.map(i => four[i]!)
      const sorted = [...picked].sort().map(i => four[i]!)
      const a = await mergeModules(chosen, method, { evaluator })
      const b = await mergeModules(sorted, method, { evaluator })
      assert.equal(a.stateRoot, b.stateRoot)
    }), { numRuns: 12 })
  })
})

describe('identities and arithmetic', () => {
  it('merging a single module under linear weight [1] returns it unchanged', async () => {
    await fc.assert(fc.asyncProperty(fc.string(), async (seed) => {
      const module = randomModule(Xoshiro128.fromString(seed))
      for (const method of [{ name: 'linear', weighting: 'given' }, { name: 'task-arithmetic' }] as MergeMethod[]) {
        const result = await mergeModules([{ module, height: 0, weight: 1 }], method)
        assert.equal(moduleCid(compositeModule(result)!), moduleCid(module))
      }
      const uniform = await mergeModules([{ module, height: 0 }], { name: 'linear' })
      assert.equal(moduleCid(compositeModule(uniform)!), moduleCid(module))
    }), { numRuns: 30 })
  })

  it('Fusion of one module is that module', async () => {
    const result = await mergeModules([inputs[0]!], { name: 'medforge-fusion' }, { evaluator })
    assert.equal(moduleCid(compositeModule(result)!), golden.moduleCids[0])
  })

  it('weightedSum rounds each product and partial sum to binary32, in order', () => {
    const x = Float32Array.from([1e8])
    const y = Float32Array.from([1])
    const z = Float32Array.from([-1e8])
    // (1e8 + 1) rounds back to 1e8 in binary32, so the order-fixed sum is 0, not 1.
    assert.deepEqual([...weightedSum([x, y, z], [1, 1, 1])], [0])
    assert.deepEqual([...weightedSum([x, z, y], [1, 1, 1])], [1])
    const w = Math.fround(0.1)
    assert.equal(weightedSum([Float32Array.from([3])], [0.1])[0], Math.fround(w * 3))
  })

  it('the WebAssembly SIMD kernels compile on this engine (else every merge would take the scalar path unnoticed)', () => {
    const xs = Array.from({ length: 5 }, (_, i) => Float32Array.from({ length: 64 }, (_, j) => i + j))
    const out = new Float32Array(64)
    assert.equal(weightedSumSimd(xs, [1, 2, 3, 4, 5], out, 64), true)
    assert.equal(out[63], 1 * 63 + 2 * 64 + 3 * 65 + 4 * 66 + 5 * 67)
  })

  it('property: the WebAssembly SIMD weighted sum gives the scalar kernel\'s bits (lengths across chunk edges, signed zeros, extreme magnitudes)', () => {
    const value = fc.oneof(fc.float({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(0, -0, 1e38, -1e38, 1e-45, 3.4028234663852886e38))
    // Lengths reach past one and two windows of the kernel's memory; counts past one group of inputs.
    const length = fc.oneof(fc.integer({ min: 60, max: 9000 }), fc.integer({ min: SIMD_CHUNK - 8, max: 2 * SIMD_CHUNK + 8 }))
    fc.assert(fc.property(fc.integer({ min: 1, max: 3 * SIMD_GROUP }), length, fc.array(fc.double({ min: -4, max: 4, noNaN: true }), { minLength: 40, maxLength: 40 }), fc.integer(), (count, n, weights, seed) => {
      const rng = Xoshiro128.fromString(`simd|${seed}`)
      const pool = fc.sample(value, { numRuns: 64, seed })
      const xs = Array.from({ length: count }, () => Float32Array.from({ length: n }, () => pool[rng.nextU32() % pool.length]!))
      const w = weights.slice(0, count)
      const scalar = weightedSum(xs, w, false)
      const simd = weightedSum(xs, w)
      for (let j = 0; j < n; j++) assert.ok(Object.is(scalar[j], simd[j]) || (Number.isNaN(scalar[j]) && Number.isNaN(simd[j])), `element ${j}: ${scalar[j]} vs ${simd[j]}`)
    }), { numRuns: 40 })
  })

  it('TIES: top-k trimming (ties keep the lower index), sign election and disjoint mean', () => {
    assert.deepEqual([...keepTopK(Float32Array.from([0.1, -3, 2, 2, -0.5]), 3)], [0, -3, 2, 2, 0].map(Math.fround))
    assert.deepEqual([...keepTopK(Float32Array.from([1, 1, 1, 1]), 2)], [1, 1, 0, 0])
    const t1 = Float32Array.from([1, -2, 0, 3])
    const t2 = Float32Array.from([-3, -1, 0, 1])
    const t3 = Float32Array.from([1, 4, 0, -5])
    // total: signs of sums [-1, 1, 0, -1] -> [-, +, +, -]; frequency: [+, -, +, +]
    assert.deepEqual([...electAndMerge([t1, t2, t3], 'total')], [-3, 4, 0, -5])
    assert.deepEqual([...electAndMerge([t1, t2, t3], 'frequency')], [1, -1.5, 0, 2])
  })

  it('DARE: drops about 1 - density, rescales survivors, and is reproducible from its seed', () => {
    const x = new Float32Array(20000).fill(1)
    const a = dropAndRescale(x, 0.25, Xoshiro128.fromString('seed'))
    const b = dropAndRescale(x, 0.25, Xoshiro128.fromString('seed'))
    const c = dropAndRescale(x, 0.25, Xoshiro128.fromString('other'))
    assert.deepEqual(a, b)
    assert.notDeepEqual(a, c)
    const kept = a.filter(v => v !== 0)
    assert.ok(kept.every(v => v === 4))
    assert.ok(Math.abs(kept.length / x.length - 0.25) < 0.02, `kept ${kept.length}`)
  })

  it('Fusion applies a and b to A and B separately, so the update is (aB1+bB2)(aA1+bA2)', () => {
    const m = randomModule(Xoshiro128.fromString('m'))
    const l = randomModule(Xoshiro128.fromString('l'))
    const c = combine(m, l, 0.5, -1.25)
    const layer = 'base_model.model.l0.q'
    const expected = m.layers.get(layer)!.A.data.map((v, i) => Math.fround(Math.fround(0.5 * v) + Math.fround(-1.25 * l.layers.get(layer)!.A.data[i]!)))
    assert.deepEqual(c.layers.get(layer)!.A.data, expected)
  })

  it('Fusion resumes from a checkpointed prefix with the same result as a full fold', async () => {
    const method = canonicalMethod({ name: 'medforge-fusion' }, evaluator.id)
    const ordered = canonicalOrder(inputs)
    const prefix: FusionState = await fuse(ordered.slice(0, 2), method as never, evaluator)
    const resumed = await mergeModules(inputs, { name: 'medforge-fusion' }, { evaluator, resumeFrom: prefix })
    assert.equal(resumed.stateRoot, golden.stateRoots['{"name":"medforge-fusion"}'])
    await assert.rejects(mergeModules(inputs.slice(1), { name: 'medforge-fusion' }, { evaluator, resumeFrom: prefix }), InvalidMergeOptionsError)
  })

  it('Fusion improves the distilled-set loss over the first module alone', async () => {
    const result = await mergeModules(inputs, { name: 'medforge-fusion' }, { evaluator })
    const steps = result.steps!
    assert.equal(steps.length, 3)
    assert.deepEqual(steps[0]!.coefficients, [0, 1])
    assert.ok(steps.slice(1).every(s => s.evaluations === 40))
    const ordered = result.inputs as readonly OrderedInput<ToyData>[]
    const taskB = ordered.find(i => i.task === 'b')!
    const composite = compositeModule(result)!
    const first = ordered[0]!.module
    assert.ok(evaluator.loss(composite, taskB) as number < (evaluator.loss(first, taskB) as number), 'the composite learned task b')
  })
})

describe('MedForge-Fusion in product space', () => {
  const delta = (m: LoraModule, layer: string): Float64Array => {
    const { A, B } = m.layers.get(layer)!
    const [r, cols] = A.shape as [number, number]
    const rows = B.shape[0]!
    const s = loraScaling(m.config)
    const out = new Float64Array(rows * cols)
    for (let o = 0; o < rows; o++) for (let i = 0; i < cols; i++) for (let k = 0; k < r; k++) out[o * cols + i] = out[o * cols + i]! + s * B.data[o * r + k]! * A.data[k * cols + i]!
    return out
  }

  it('property: combineProduct is a·ΔW_M + b·ΔW_L (no cross terms), at rank r_M + r_L', () => {
    fc.assert(fc.property(fc.string(), fc.double({ min: -1.5, max: 1.5, noNaN: true }), fc.double({ min: -1.5, max: 1.5, noNaN: true }), (seed, a, b) => {
      const rng = Xoshiro128.fromString(seed)
      const m = randomModule(rng)
      const l = randomModule(rng)
      const c = combineProduct(m, l, a, b)
      assert.equal(c.config.r, 4)
      for (const layer of m.layers.keys()) {
        const got = delta(c, layer)
        const dm = delta(m, layer)
        const dl = delta(l, layer)
        for (let i = 0; i < got.length; i++) {
          const want = a * dm[i]! + b * dl[i]!
          assert.ok(Math.abs(got[i]! - want) <= 1e-5 * (1 + Math.abs(want)), `${layer}[${i}]: ${got[i]} vs ${want}`)
        }
      }
    }), { numRuns: 200 })
  })

  it('a fold of three modules has rank 3r and resumes from its checkpoint to the same root', async () => {
    const result = await mergeModules(inputs, { name: 'medforge-fusion-product' }, { evaluator })
    const module = result.composite.kind === 'adapter' ? result.composite.module : undefined
    assert.equal(module?.config.r, 3 * inputs[0]!.module.config.r)
    const method = canonicalMethod({ name: 'medforge-fusion-product' }, evaluator.id)
    if (method.name !== 'medforge-fusion-product') throw new Error('unreachable')
    const ordered = result.inputs as readonly OrderedInput<ToyData>[]
    const prefix = await fusionStep(await fusionStep(undefined, ordered[0]!, method, evaluator), ordered[1]!, method, evaluator)
    assert.equal((await mergeModules(inputs, { name: 'medforge-fusion-product' }, { evaluator, resumeFrom: prefix })).stateRoot, result.stateRoot)
  })
})

describe('the search\'s per-task tolerance', () => {
  it('records each task\'s objective per step; a tolerance cuts the total excess over the limits and leaves default roots alone', async () => {
    const plain = await mergeModules(inputs, { name: 'medforge-fusion-product' }, { evaluator })
    const loose = await mergeModules(inputs, { name: 'medforge-fusion-product', tolerance: 1e9 }, { evaluator })
    const tight = await mergeModules(inputs, { name: 'medforge-fusion-product', tolerance: 0.001 }, { evaluator })
    // A tolerance nothing reaches changes no choice: the same coefficients (the root differs only
    // because the method's canonical form now carries it).
    assert.deepEqual(loose.steps!.map(s => s.coefficients), plain.steps!.map(s => s.coefficients))
    assert.notEqual(loose.stateRoot, plain.stateRoot)
    assert.equal(canonicalMethod({ name: 'medforge-fusion-product' }, evaluator.id).name, 'medforge-fusion-product')
    assert.equal('tolerance' in canonicalMethod({ name: 'medforge-fusion-product' }, evaluator.id), false, 'absent unless set')
    for (const step of plain.steps!.slice(1)) assert.ok(step.tasks !== undefined && Object.values(step.tasks).every(v => Number.isFinite(v)), JSON.stringify(step))
    // With KL, a task's limit is 0.001 over its own module (new task) or over the previous
    // composite (a task already served); the tight search's total excess is never above the plain one's.
    const excess = (steps: NonNullable<typeof plain.steps>): number => steps.slice(1).reduce((sum, s) => sum + Object.values(s.tasks!).reduce((a, v) => a + Math.max(0, v - 0.001), 0), 0)
    assert.ok(excess(tight.steps!) <= excess(plain.steps!) + 1e-12, `${excess(tight.steps!)} > ${excess(plain.steps!)}`)
    await assert.rejects(mergeModules(inputs, { name: 'medforge-fusion-product', tolerance: -1 }, { evaluator }), /tolerance must be >= 0/)
  })
})

describe('refusals', () => {
  const base = inputs[0]!.module
  const variant = (raw: Record<string, unknown>): LoraModule => loraModuleFromTensors(parseLoraConfig({ ...base.config.raw, ...raw }, 'v'), moduleTensors(base), 'v')

  it('names the differing field for mismatched base models, ranks, alphas and targets', async () => {
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ base_model_name_or_path: 'other/model' }, 'base_model_name_or_path', /"other\/model"/],
      [{ lora_alpha: 99 }, 'lora_alpha', /99/],
      [{ target_modules: ['encoder', 'decoder'] }, 'target_modules', /decoder/]
    ]
    for (const [raw, field, detail] of cases) {
      await assert.rejects(mergeModules([{ module: base, height: 0, label: 'first' }, { module: variant(raw), height: 0, label: 'second' }], { name: 'linear' }), (err: unknown) => {
        assert.ok(err instanceof IncompatibleModulesError)
        assert.equal(err.field, field)
        assert.match(err.message, /first has .* second has/)
        assert.match(err.message, detail)
        return true
      })
    }
    const r4 = randomModule(Xoshiro128.fromString('a'), { r: 4, inp: 5, out: 3 })
    const r2 = randomModule(Xoshiro128.fromString('b'))
    await assert.rejects(mergeModules([{ module: r4, height: 0 }, { module: r2, height: 0 }], { name: 'ties' }), /r differs: .* has 4, .* has 2/)
    const wide = randomModule(Xoshiro128.fromString('c'), { r: 2, inp: 7, out: 3 })
    await assert.rejects(mergeModules([{ module: wide, height: 0 }, { module: r2, height: 0 }], { name: 'ties' }), /lora_A of "base_model.model.l0.q" is \[2, 7\]/)
  })

  it('refuses bad options', async () => {
    await assert.rejects(mergeModules(inputs, { name: 'ties', density: 1.5 }), /density must be in \(0, 1\]/)
    await assert.rejects(mergeModules(inputs, { name: 'medforge-fusion' }), /needs a loss evaluator/)
    await assert.rejects(mergeModules([{ ...inputs[0]!, sampleCount: undefined }], { name: 'linear', weighting: 'samples' }), /positive sample count/)
    await assert.rejects(mergeModules([{ ...inputs[0]!, height: -1 }], { name: 'linear' }), /non-negative integer/)
    await assert.rejects(mergeModules(inputs, { name: 'nope' } as unknown as MergeMethod), /unknown method/)
  })

  it('counts a module given twice once', async () => {
    const once = await mergeModules(inputs, { name: 'linear' })
    const twice = await mergeModules([...inputs, inputs[1]!], { name: 'linear' })
    assert.equal(twice.stateRoot, once.stateRoot)
  })
})

describe('selection', () => {
  it('property: selectKth agrees with sorting', async () => {
    const { selectKth } = await import('../src/merge/f32-ops.ts')
    fc.assert(fc.property(fc.array(fc.float({ noNaN: true }), { minLength: 1, maxLength: 60 }), fc.nat(), (values, at) => {
      const n = at % values.length
      const sorted = Float32Array.from(values).sort()
      assert.ok(Object.is(selectKth(Float32Array.from(values), n), sorted[n]) || selectKth(Float32Array.from(values), n) === sorted[n])
    }), { numRuns: 500 })
  })
})

describe('composite export and duplicate inputs', () => {
  const model = new ToyModel()
  const a = model.train('a', model.makeData('a', 24, 'dup'), { epochs: 5, seed: 'dup' })
  const otherHead = { ...a, heads: new Map([...a.heads].map(([k, t]) => [k, { shape: t.shape, data: t.data.map(v => v + 1) }])) }

  it('refuses one LoRA module given twice with different task heads (either choice would depend on the order)', async () => {
    assert.equal(moduleCid(a), moduleCid(otherHead))
    for (const order of [[a, otherHead], [otherHead, a]]) {
      await assert.rejects(mergeModules(order.map((module, i) => ({ module, height: 0, label: `in${i}` })), { name: 'linear' }), (err: unknown) => err instanceof InvalidMergeOptionsError && /given twice with different task heads/.test(err.message))
    }
    const same = await mergeModules([{ module: a, height: 0 }, { module: a, height: 0 }], { name: 'linear' })
    assert.equal(same.inputs.length, 1, 'the same module with the same head counts once')
  })

  it('writing into a used --out folder leaves no earlier task head behind', async (t) => {
    const { mkdtempSync, readdirSync, rmSync } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const { writeComposite } = await import('../src/index.ts')
    const dir = mkdtempSync(join(tmpdir(), 'medforge-composite-'))
    t.after(() => { rmSync(dir, { recursive: true, force: true }) })
    const b = model.train('b', model.makeData('b', 24, 'dup-b'), { epochs: 5, seed: 'dup-b' })
    writeComposite(dir, await mergeModules([{ module: a, height: 0 }, { module: b, height: 0 }], { name: 'linear' }))
    assert.equal(readdirSync(join(dir, 'task_heads')).length, 2)
    writeComposite(dir, await mergeModules([{ module: b, height: 0 }], { name: 'linear' }))
    assert.deepEqual(readdirSync(join(dir, 'task_heads')), [`${moduleCid(b)}.safetensors`])
  })
})
