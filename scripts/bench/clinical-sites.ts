// The clinical bench's three sites (and the issue 13 experiments'): two pneumonia hospitals with
// label-skewed shards of PneumoniaMNIST's train split and one breast-ultrasound clinic, with the
// heights they take in the canonical order.
export const SITES = [
  { name: 'Hospital A', task: 'pneumonia', index: 0, of: 2, alpha: 0.5, height: 1 },
  { name: 'Clinic C', task: 'breast', index: 0, of: 1, alpha: undefined, height: 2 },
  { name: 'Hospital B', task: 'pneumonia', index: 1, of: 2, alpha: 0.5, height: 3 }
] as const

export type Site = typeof SITES[number]
