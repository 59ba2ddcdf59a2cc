// A pinned, box-bounded Nelder–Mead: the gradient-free search behind MedForge-Fusion and -Mixture.
// Every choice (start simplex, coefficients, tie order, clamping, stopping) is fixed here and in
// DETERMINISM.md, so every peer visits the same points and recommends the same one.
import { InvalidLossError } from '../errors.ts'

export interface NelderMeadOptions {
  readonly x0: readonly number[]
  readonly lower: number
  readonly upper: number
  /** Exact number of loss evaluations allowed (fewer are used only if the simplex collapses). */
  readonly budget: number
  /** Offset of the start simplex's other vertices along each axis. */
  readonly step?: number
}

export interface Evaluation {
  readonly x: readonly number[]
  readonly loss: number
}

export interface NelderMeadResult {
  /** The best observed point (lowest loss, earliest on ties). */
  readonly x: readonly number[]
  readonly loss: number
  readonly evaluations: readonly Evaluation[]
}

const REFLECT = 1
const EXPAND = 2
const CONTRACT = 0.5
const SHRINK = 0.5

class BudgetSpent extends Error {}

export async function nelderMead (f: (x: readonly number[]) => number | Promise<number>, options: NelderMeadOptions): Promise<NelderMeadResult> {
  const { lower, upper, budget } = options
  const step = options.step ?? 0.25
  const n = options.x0.length
  if (n === 0 || budget < 1) throw new RangeError('nelderMead needs at least one dimension and one evaluation')
  const clamp = (x: readonly number[]): number[] => x.map(v => Math.min(upper, Math.max(lower, v)))
  const evaluations: Evaluation[] = []

  const evaluate = async (x: number[]): Promise<Vertex> => {
    if (evaluations.length >= budget) throw new BudgetSpent()
    const loss = await f(x)
    if (typeof loss !== 'number' || Number.isNaN(loss)) throw new InvalidLossError(`got ${String(loss)} at [${x.join(', ')}]`)
    evaluations.push({ x, loss })
    return { x, loss, index: evaluations.length - 1 }
  }

  try {
    const x0 = clamp(options.x0)
    const simplex: Vertex[] = [await evaluate(x0)]
    for (let i = 0; i < n; i++) {
      const v = [...x0]
      v[i] = v[i]! + step <= upper ? v[i]! + step : v[i]! - step
      simplex.push(await evaluate(clamp(v)))
    }
    for (;;) {
      simplex.sort(byLossThenAge)
      const best = simplex[0]!
      const worst = simplex[n]!
      const secondWorst = simplex[n - 1]!
      if (simplex.every(v => v.x.every((c, i) => c === best.x[i]))) break // collapsed: nothing left to explore
      const centroid = new Array<number>(n).fill(0)
      for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) centroid[i] = centroid[i]! + simplex[j]!.x[i]! / n
      const along = (from: readonly number[], to: readonly number[], t: number): number[] =>
        clamp(from.map((c, i) => c + t * (to[i]! - c)))

      const reflected = await evaluate(along(centroid, worst.x, -REFLECT))
      if (reflected.loss < best.loss) {
        const expanded = await evaluate(along(centroid, reflected.x, EXPAND))
        simplex[n] = expanded.loss < reflected.loss ? expanded : reflected
        continue
      }
      if (reflected.loss < secondWorst.loss) { simplex[n] = reflected; continue }
      if (reflected.loss < worst.loss) {
        const outside = await evaluate(along(centroid, reflected.x, CONTRACT))
        if (outside.loss <= reflected.loss) { simplex[n] = outside; continue }
      } else {
        const inside = await evaluate(along(centroid, worst.x, CONTRACT))
        if (inside.loss < worst.loss) { simplex[n] = inside; continue }
      }
      for (let j = 1; j <= n; j++) simplex[j] = await evaluate(along(best.x, simplex[j]!.x, SHRINK))
    }
  } catch (err) {
    if (!(err instanceof BudgetSpent)) throw err
  }

  let bestIndex = 0
  for (let i = 1; i < evaluations.length; i++) if (evaluations[i]!.loss < evaluations[bestIndex]!.loss) bestIndex = i
  const best = evaluations[bestIndex]!
  return { x: best.x, loss: best.loss, evaluations }
}

interface Vertex extends Evaluation { readonly index: number }

function byLossThenAge (a: Vertex, b: Vertex): number {
  return a.loss - b.loss || a.index - b.index
}
