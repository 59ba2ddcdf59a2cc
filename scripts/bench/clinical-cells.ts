// The clinical bench's cells: a metric measured once per seed, reported as mean ± sd over the
// seeds, with a bootstrap 95% interval of the first seed's test predictions.
import { bootstrapInterval, classificationMetrics } from '@medforge/clinical'
import type { SplitPredictions } from '@medforge/clinical'

export interface TaskCell {
  readonly acc: number[]
  readonly auc: number[]
  /** Bootstrap 95% interval of the AUC, on the first seed's predictions. */
  aucInterval?: [number, number]
}

export type Row = { readonly label: string } & { cells: Map<string, TaskCell>, seconds: number[] }

export function newRow (label: string): Row {
  return { label, cells: new Map(), seconds: [] }
}

/** Adds one seed's predictions for a task to a row. */
export function record (row: Row, task: string, p: SplitPredictions | undefined, seed: number): void {
  if (p === undefined) return
  const m = classificationMetrics(p.probabilities, p.classes, p.labels)
  const cell = row.cells.get(task) ?? { acc: [], auc: [] }
  cell.acc.push(m.accuracy)
  cell.auc.push(m.auc)
  if (seed === 0) cell.aucInterval = bootstrapInterval(p, x => x.auc, `${row.label}|${task}`)
  row.cells.set(task, cell)
}

export function mean (xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length
}

export function sd (xs: readonly number[]): number {
  if (xs.length < 2) return 0
  const m = mean(xs)
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1))
}

const f3 = (x: number): string => x.toFixed(3)

/** "0.927 ± 0.004" (or one value), "–" when the row has no such task. */
export function formatCell (cell: TaskCell | undefined, which: 'acc' | 'auc'): string {
  if (cell === undefined) return '–'
  const xs = cell[which]
  const text = xs.length > 1 ? `${f3(mean(xs))} ± ${f3(sd(xs))}` : f3(xs[0]!)
  return which === 'auc' && cell.aucInterval !== undefined ? `${text} [${cell.aucInterval[0].toFixed(2)}, ${cell.aucInterval[1].toFixed(2)}]` : text
}

export function rowLine (row: Row, tasks: readonly string[], extra: string[] = []): string {
  return `| ${row.label} | ${tasks.flatMap(t => [formatCell(row.cells.get(t), 'acc'), formatCell(row.cells.get(t), 'auc')]).join(' | ')} |${extra.map(e => ` ${e} |`).join('')}`
}

export function rowJson (row: Row): Record<string, unknown> {
  const tasks: Record<string, unknown> = {}
  for (const [task, c] of row.cells) tasks[task] = { acc: { mean: mean(c.acc), sd: sd(c.acc), values: c.acc }, auc: { mean: mean(c.auc), sd: sd(c.auc), values: c.auc, interval95: c.aucInterval ?? null } }
  return { model: row.label, tasks, seconds: row.seconds }
}
