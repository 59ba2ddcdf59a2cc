// Who takes part in a local testnet: for N institutions, two of every three are pneumonia
// hospitals (label-skewed shards of PneumoniaMNIST's train split) and every third a breast
// ultrasound clinic (shards of BreastMNIST's).
export interface TestnetSite {
  readonly name: string
  /** The demo tasks, or a task a revision added (--late-task). */
  readonly task: string
  /** This site's shard: index of count, Dirichlet alpha for label skew (undefined = IID). */
  readonly shard: { readonly index: number, readonly count: number, readonly alpha: number | undefined }
}

const HOSPITALS = ['Hospital A', 'Hospital B', 'Hospital D', 'Hospital E', 'Hospital G', 'Hospital H', 'Hospital J']
const CLINICS = ['Clinic C', 'Clinic F', 'Clinic I']

export function testnetSites (n: number): TestnetSite[] {
  if (!Number.isSafeInteger(n) || n < 1 || n > 10) throw new RangeError(`--institutions must be 1 to 10, got ${n}`)
  const tasks = Array.from({ length: n }, (_, i) => i % 3 === 2 ? 'breast' : 'pneumonia')
  const pneumonia = tasks.filter(t => t === 'pneumonia').length
  const breast = tasks.length - pneumonia
  let p = 0
  let b = 0
  return tasks.map(task => task === 'pneumonia'
    ? { name: HOSPITALS[p]!, task, shard: { index: p++, count: pneumonia, alpha: pneumonia > 1 ? 1 : undefined } }
    : { name: CLINICS[b]!, task, shard: { index: b++, count: breast, alpha: undefined } })
}
