// Clinical metrics from class probabilities: accuracy, ROC AUC (binary; one-vs-rest macro for more
// classes, as MedMNIST reports), F1 (positive class 1 for binary tasks, macro otherwise) and the
// confusion matrix (rows: true class, columns: predicted).

export interface ClassificationMetrics {
  readonly accuracy: number
  readonly auc: number
  readonly f1: number
  readonly confusion: number[][]
  readonly count: number
}

/** Area under the ROC curve of scores for the positive examples; ties count one half (Mann–Whitney). */
export function rocAuc (scores: ArrayLike<number>, positive: ArrayLike<boolean>): number {
  const idx = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!)
  let pos = 0
  let rankSum = 0
  for (let i = 0; i < idx.length;) {
    let j = i
    while (j + 1 < idx.length && scores[idx[j + 1]!] === scores[idx[i]!]) j++
    const avgRank = (i + j) / 2 + 1
    for (let k = i; k <= j; k++) if (positive[idx[k]!]) { pos++; rankSum += avgRank }
    i = j + 1
  }
  const neg = scores.length - pos
  if (pos === 0 || neg === 0) return NaN
  return (rankSum - pos * (pos + 1) / 2) / (pos * neg)
}

export function classificationMetrics (probabilities: ArrayLike<number>, classes: number, labels: Int32Array): ClassificationMetrics {
  const n = labels.length
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0))
  let correct = 0
  for (let i = 0; i < n; i++) {
    let best = 0
    for (let c = 1; c < classes; c++) if (probabilities[i * classes + c]! > probabilities[i * classes + best]!) best = c
    confusion[labels[i]!]![best]!++
    if (best === labels[i]) correct++
  }
  const f1Of = (c: number): number => {
    const tp = confusion[c]![c]!
    let fp = 0; let fn = 0
    for (let k = 0; k < classes; k++) if (k !== c) { fp += confusion[k]![c]!; fn += confusion[c]![k]! }
    return tp === 0 ? 0 : 2 * tp / (2 * tp + fp + fn)
  }
  const aucOf = (c: number): number => rocAuc(Array.from({ length: n }, (_, i) => probabilities[i * classes + c]!), Array.from(labels, l => l === c))
  let auc: number
  let f1: number
  if (classes === 2) {
    auc = aucOf(1)
    f1 = f1Of(1)
  } else {
    const aucs = Array.from({ length: classes }, (_, c) => aucOf(c)).filter(a => !Number.isNaN(a))
    auc = aucs.reduce((a, b) => a + b, 0) / aucs.length
    f1 = Array.from({ length: classes }, (_, c) => f1Of(c)).reduce((a, b) => a + b, 0) / classes
  }
  return { accuracy: n === 0 ? NaN : correct / n, auc, f1, confusion, count: n }
}
