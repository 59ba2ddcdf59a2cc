// The merge methods and their parameters, validated and normalised to the canonical form that
// goes into the state root (every default written out, so equal behaviour means equal bytes).
import { InvalidMergeOptionsError } from '../errors.ts'
import type { SignMethod } from './f32-ops.ts'

/** How per-input weights are chosen by the weighted data-free methods. */
export type Weighting = 'uniform' | 'samples' | 'given'

export interface LinearMethod { readonly name: 'linear', readonly weighting?: Weighting }
export interface TaskArithmeticMethod { readonly name: 'task-arithmetic', readonly weighting?: Weighting }
export interface TiesMethod { readonly name: 'ties', readonly weighting?: Weighting, readonly density?: number, readonly majoritySign?: SignMethod }
export interface DareMethod { readonly name: 'dare', readonly weighting?: Weighting, readonly density?: number, readonly combine?: 'linear' | 'ties', readonly majoritySign?: SignMethod }

export interface SearchParams {
  /** Loss evaluations per step. */
  readonly budget?: number
  readonly lower?: number
  readonly upper?: number
  readonly init?: readonly [number, number]
  /** Weight of the L1 penalty mean(|[a, b]|). */
  readonly regularization?: number
}
export interface FusionMethod extends SearchParams { readonly name: 'medforge-fusion' }
/**
 * What a product-space fold minimises: `loss`, the candidate's loss on the contributors' distilled
 * sets (the reference's objective); or `kl`, how far the candidate moves each contributor's own
 * predictions on its distilled set (KL from the contributor's module with its head to the
 * candidate with that head): what the merge must keep, whatever the distilled labels reward.
 */
export type FusionObjective = 'loss' | 'kl'
export interface FusionProductMethod extends SearchParams {
  readonly name: 'medforge-fusion-product'
  readonly objective?: FusionObjective
  /**
   * No task may be traded away silently: a candidate may not make any task's objective worse by
   * more than this than the previous composite had it (a task already served), or than the
   * arriving module alone has it (a new task); candidates beyond it are pushed back by a steep
   * penalty, so the search settles where every task is within it when such a point exists. Off
   * when absent.
   */
  readonly tolerance?: number
}
export interface MixtureMethod extends SearchParams { readonly name: 'medforge-mixture' }
/**
 * Least-squares fit of every contributor's layer outputs on its own inputs (see regmean.ts).
 * `shrink` scales the off-diagonal input statistics (RegMean's α). `balance`: every task has an
 * equal say, shared by its modules in proportion to their (bounded) training samples (`samples`,
 * RegMean's own weighting within a task) or equally (`task`); or every module one (`module`).
 */
export type RegmeanBalance = 'samples' | 'task' | 'module'
export interface RegmeanMethod { readonly name: 'medforge-regmean', readonly shrink?: number, readonly balance?: RegmeanBalance }

export type MergeMethod = LinearMethod | TaskArithmeticMethod | TiesMethod | DareMethod | FusionMethod | FusionProductMethod | MixtureMethod | RegmeanMethod
export type MethodName = MergeMethod['name']
export const METHOD_NAMES: readonly MethodName[] = ['linear', 'task-arithmetic', 'ties', 'dare', 'medforge-fusion', 'medforge-fusion-product', 'medforge-mixture', 'medforge-regmean']
/** The methods that fold modules one at a time (and can resume from a checkpointed prefix). */
export const FOLDING_METHODS: readonly MethodName[] = ['medforge-fusion', 'medforge-fusion-product']
export const DATA_FREE_METHODS: readonly MethodName[] = ['linear', 'task-arithmetic', 'ties', 'dare']

export type CanonicalMethod = Required<LinearMethod> | Required<TaskArithmeticMethod> | Required<TiesMethod> | Required<DareMethod> |
  (Required<Omit<FusionMethod, 'init'>> & { init: [number, number], evaluator: string }) |
  (Required<Omit<FusionProductMethod, 'init' | 'tolerance'>> & { init: [number, number], evaluator: string, tolerance?: number }) |
  (Required<Omit<MixtureMethod, 'init'>> & { init: [number, number], evaluator: string }) |
  Required<RegmeanMethod>

/** The reference's search settings: start [0.5, 0.5], bounds [-1.5, 1.5], 40 evaluations, L1 weight 0.05. */
export const SEARCH_DEFAULTS = { budget: 40, lower: -1.5, upper: 1.5, init: [0.5, 0.5] as [number, number], regularization: 0.05 }

export function canonicalMethod (method: MergeMethod, evaluatorId?: string): CanonicalMethod {
  const fail = (detail: string): never => { throw new InvalidMergeOptionsError(`${method.name}: ${detail}`) }
  const weighting = (w: Weighting | undefined, fallback: Weighting): Weighting => {
    const v = w ?? fallback
    if (v !== 'uniform' && v !== 'samples' && v !== 'given') fail(`weighting must be uniform, samples or given, got ${String(v)}`)
    return v
  }
  const density = (d: number | undefined, fallback: number): number => {
    const v = d ?? fallback
    if (typeof v !== 'number' || !(v > 0 && v <= 1)) fail(`density must be in (0, 1], got ${String(v)}`)
    return v
  }
  const sign = (s: SignMethod | undefined): SignMethod => {
    const v = s ?? 'total'
    if (v !== 'total' && v !== 'frequency') fail(`majority sign method must be total or frequency, got ${String(v)}`)
    return v
  }
  switch (method.name) {
    case 'linear': return { name: 'linear', weighting: weighting(method.weighting, 'uniform') }
    case 'task-arithmetic': return { name: 'task-arithmetic', weighting: weighting(method.weighting, 'given') }
    case 'ties': return { name: 'ties', weighting: weighting(method.weighting, 'given'), density: density(method.density, 0.2), majoritySign: sign(method.majoritySign) }
    case 'dare': {
      const combine = method.combine ?? 'linear'
      if (combine !== 'linear' && combine !== 'ties') fail(`combine must be linear or ties, got ${String(combine)}`)
      return { name: 'dare', weighting: weighting(method.weighting, 'given'), density: density(method.density, 0.5), combine, majoritySign: sign(method.majoritySign) }
    }
    case 'medforge-regmean': {
      const shrink = method.shrink ?? 0.9
      const balance = method.balance ?? 'samples'
      if (typeof shrink !== 'number' || !(shrink >= 0 && shrink <= 1)) fail(`shrink must be in [0, 1], got ${String(shrink)}`)
      if (balance !== 'samples' && balance !== 'task' && balance !== 'module') fail(`balance must be samples, task or module, got ${String(balance)}`)
      return { name: 'medforge-regmean', shrink, balance }
    }
    case 'medforge-fusion':
    case 'medforge-fusion-product':
    case 'medforge-mixture': {
      if (evaluatorId === undefined) fail('needs a loss evaluator (the searched methods score candidates on distilled data)')
      const budget = method.budget ?? SEARCH_DEFAULTS.budget
      const lower = method.lower ?? SEARCH_DEFAULTS.lower
      const upper = method.upper ?? SEARCH_DEFAULTS.upper
      const init = method.init ?? SEARCH_DEFAULTS.init
      const regularization = method.regularization ?? SEARCH_DEFAULTS.regularization
      if (!Number.isSafeInteger(budget) || budget < 3) fail(`budget must be an integer >= 3, got ${budget}`)
      if (!(Number.isFinite(lower) && Number.isFinite(upper) && lower < upper)) fail(`bounds [${lower}, ${upper}] are not an interval`)
      if (init.length !== 2 || !init.every(v => Number.isFinite(v))) fail('init must be two finite numbers')
      if (!(Number.isFinite(regularization) && regularization >= 0)) fail(`regularization must be >= 0, got ${regularization}`)
      if (method.name === 'medforge-fusion-product') {
        const objective = method.objective ?? 'kl'
        if (objective !== 'loss' && objective !== 'kl') fail(`objective must be loss or kl, got ${String(objective)}`)
        const tolerance = method.tolerance
        if (tolerance !== undefined && !(Number.isFinite(tolerance) && tolerance >= 0)) fail(`tolerance must be >= 0, got ${tolerance}`)
        // Present only when set, so that a method without it keeps its canonical form (and roots).
        return { name: method.name, budget, lower, upper, init: [init[0], init[1]], regularization, objective, evaluator: evaluatorId!, ...(tolerance === undefined ? {} : { tolerance }) }
      }
      return { name: method.name, budget, lower, upper, init: [init[0], init[1]], regularization, evaluator: evaluatorId! }
    }
    default:
      return fail(`unknown method; known: ${METHOD_NAMES.join(', ')}`)
  }
}
