// The clinical bench's site configurations (and the issue 13 experiments'): the testnet's three
// sites — two pneumonia hospitals with label-skewed shards of PneumoniaMNIST's train split and one
// breast-ultrasound clinic — and a four-site one where the breast split is shared by two clinics,
// each with the height it takes in the canonical order.
export interface Site { readonly name: string, readonly task: string, readonly index: number, readonly of: number, readonly alpha: number | undefined, readonly height: number }

export const SITES: readonly Site[] = [
  { name: 'Hospital A', task: 'pneumonia', index: 0, of: 2, alpha: 0.5, height: 1 },
  { name: 'Clinic C', task: 'breast', index: 0, of: 1, alpha: undefined, height: 2 },
  { name: 'Hospital B', task: 'pneumonia', index: 1, of: 2, alpha: 0.5, height: 3 }
]

export const FOUR_SITES: readonly Site[] = [
  { name: 'Hospital A', task: 'pneumonia', index: 0, of: 2, alpha: 0.5, height: 1 },
  { name: 'Clinic C', task: 'breast', index: 0, of: 2, alpha: undefined, height: 2 },
  { name: 'Hospital B', task: 'pneumonia', index: 1, of: 2, alpha: 0.5, height: 3 },
  { name: 'Clinic D', task: 'breast', index: 1, of: 2, alpha: undefined, height: 4 }
]
