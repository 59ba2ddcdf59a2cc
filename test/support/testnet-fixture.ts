// Builds a local network of institution daemons for tests: data directories, a signed manifest
// with the toy model, trained module bundles, and daemons as separate processes on loopback.
import { join } from 'node:path'
import { ToyModel } from '@medforge/merge-core'
import { TOY_ARCHITECTURE, toyWeightsCid, writeModuleBundle, createLocalNetwork, MEDFORGE_BIN, spawnDaemon } from '@medforge/node'
import type { LocalNetwork, LocalSite, DaemonProcess } from '@medforge/node'

export { agreeOn, waitFor } from '@medforge/node'

export const root = join(import.meta.dirname, '..', '..')
export const bin = MEDFORGE_BIN

export type Site = LocalSite

export interface TestnetSpec {
  readonly sites: number
  readonly method: string
  readonly params?: Record<string, number | string>
  /** Extra members that run no daemon (hostile peers in tests), by name. */
  readonly extraMembers?: readonly string[]
}

export type Testnet = LocalNetwork

/** A toy network of `sites` institutions (Site 0, Site 1, …) with two synthetic tasks. */
export async function createTestnet (spec: TestnetSpec): Promise<Testnet> {
  return await createLocalNetwork({
    networkId: 'toy-testnet',
    name: 'Toy testnet',
    sites: Array.from({ length: spec.sites }, (_, i) => ({ name: `Site ${i}` })),
    ...(spec.extraMembers === undefined ? {} : { extraMembers: spec.extraMembers }),
    baseModel: { architecture: TOY_ARCHITECTURE, weights: toyWeightsCid() },
    tasks: [
      { id: 'task-1', modality: 'synthetic', labels: ['a', 'b'], metric: 'accuracy' },
      { id: 'task-2', modality: 'synthetic', labels: ['a', 'b'], metric: 'accuracy' }
    ],
    lora: { targets: ['encoder'], rank: 2, alpha: 4 },
    merge: { method: spec.method, params: spec.params ?? {} },
    limits: { maxModuleBytes: 1 << 20, maxMessageBytes: 16384 },
    createdAt: 1_790_000_000_000
  })
}

/** Trains a small toy module bundle for `task` at `site` (distinct data per site name). */
export function makeBundle (dir: string, task: string, site: string): string {
  const model = new ToyModel()
  const train = model.makeData(task, 64, `${site}/train`)
  const module = model.train(task, train, { epochs: 30, seed: site })
  const distilled = model.makeData(task, 8, `${site}/distilled`)
  writeModuleBundle(dir, module, { task, inputs: { shape: [8, model.spec.inputs], data: distilled.x }, labels: distilled.y }, { task, samples: 64 })
  return dir
}

export type RunningDaemon = DaemonProcess & { readonly site: Site }

export async function startDaemon (site: Site, options: { bootstrap?: readonly string[], extraArgs?: readonly string[] } = {}): Promise<RunningDaemon> {
  const d = await spawnDaemon(site.dir, { ...options, extraArgs: ['--sync-interval', '1000', ...(options.extraArgs ?? [])] })
  return Object.assign(d, { site })
}

/** Sums a Prometheus counter's samples whose labels include every `labels` pair. */
export async function metric (d: DaemonProcess, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${d.url}/metrics`)).text()
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line)
    if (m === null || m[1] !== name) continue
    const have = new Map((m[2] ?? '').split(',').filter(Boolean).map(kv => { const [k, v] = kv.split('='); return [k!, v!.replace(/^"|"$/g, '')] }))
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) sum += Number(m[3])
  }
  return sum
}
