// Builds a local network of institution daemons for tests: data directories, a signed manifest
// with the toy model, trained module bundles, and daemons as separate processes on loopback.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ToyModel } from '@medforge/merge-core'
import { PROTOCOL_VERSION, encodeKeyFile, newIdentity, parseManifestBody, signManifest } from '@medforge/protocol'
import type { Identity, MemberRole, SignedManifest } from '@medforge/protocol'
import { DataDir } from '../../packages/node/src/store/data-dir.ts'
import { TOY_ARCHITECTURE, toyWeightsCid } from '../../packages/node/src/daemon/network-model.ts'
import { writeModuleBundle } from '../../packages/node/src/cli/module-bundle.ts'
import { loadNetworkState } from '../../packages/node/src/daemon/network-state.ts'
import { MEDFORGE_BIN, spawnDaemon } from '../../packages/node/src/testnet/daemon-process.ts'
import type { DaemonProcess } from '../../packages/node/src/testnet/daemon-process.ts'

export const root = join(import.meta.dirname, '..', '..')
export const bin = MEDFORGE_BIN

export interface Site { readonly name: string, readonly dir: string, readonly identity: Identity }

export interface TestnetSpec {
  readonly sites: number
  readonly method: string
  readonly params?: Record<string, number | string>
  /** Extra members that run no daemon (hostile peers in tests), by name. */
  readonly extraMembers?: readonly string[]
}

export interface Testnet {
  readonly base: string
  readonly sites: Site[]
  readonly extra: Map<string, Identity>
  readonly manifest: SignedManifest
  readonly network: string
  readonly manifestPath: string
  cleanup (): void
}

export async function createTestnet (spec: TestnetSpec): Promise<Testnet> {
  const base = mkdtempSync(join(tmpdir(), 'medforge-testnet-'))
  const sites: Site[] = []
  for (let i = 0; i < spec.sites; i++) {
    const dataDir = new DataDir(join(base, `site-${i}`))
    const identity = await dataDir.init(`Site ${i}`, { listen: ['/ip4/127.0.0.1/tcp/0'], api: '127.0.0.1:0' })
    sites.push({ name: `Site ${i}`, dir: dataDir.dir, identity })
  }
  const extra = new Map<string, Identity>()
  for (const name of spec.extraMembers ?? []) extra.set(name, await newIdentity())
  const members = [
    ...sites.map(s => ({ peerId: s.identity.peerId, name: s.name, roles: ['contributor'] as MemberRole[] })),
    ...[...extra].map(([name, id]) => ({ peerId: id.peerId, name, roles: ['contributor'] as MemberRole[] }))
  ]
  const body = parseManifestBody({
    protocol: PROTOCOL_VERSION,
    networkId: 'toy-testnet',
    name: 'Toy testnet',
    revision: 0,
    network: null,
    parent: null,
    baseModel: { architecture: TOY_ARCHITECTURE, weights: toyWeightsCid() },
    tasks: [
      { id: 'task-1', modality: 'synthetic', labels: ['a', 'b'], metric: 'accuracy' },
      { id: 'task-2', modality: 'synthetic', labels: ['a', 'b'], metric: 'accuracy' }
    ],
    lora: { targets: ['encoder'], rank: 2, alpha: 4 },
    merge: { method: spec.method, params: spec.params ?? {} },
    members,
    quorum: 1,
    limits: { maxModuleBytes: 1 << 20, maxMessageBytes: 16384 },
    bootstrap: [],
    createdAt: 1_790_000_000_000
  })
  const manifest = await signManifest({ body, signatures: [] }, sites[0]!.identity)
  const state = await loadNetworkState([manifest])
  for (const s of sites) new DataDir(s.dir).saveChain(state.network, [manifest])
  for (const s of sites) {
    const dd = new DataDir(s.dir)
    dd.writeConfig({ ...dd.config(), networks: [state.network] })
  }
  const manifestPath = join(base, 'manifest.json')
  writeFileSync(manifestPath, JSON.stringify({ body: manifest.body, signatures: manifest.signatures }, null, 2))
  for (const [name, id] of extra) writeFileSync(join(base, `${name}.key.json`), encodeKeyFile(id, name), { mode: 0o600 })
  return { base, sites, extra, manifest, network: state.network, manifestPath, cleanup: () => rmSync(base, { recursive: true, force: true }) }
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

/** Waits until every daemon reports the same state root over `count` modules, no merge running. */
export async function agreeOn (daemons: readonly DaemonProcess[], count: number, timeoutMs = 60_000): Promise<string> {
  return await waitFor(`${daemons.length} daemons to agree on ${count} modules`, async () => {
    const st = await Promise.all(daemons.map(async d => (await d.get('/status')).networks[0]))
    return new Set(st.map(s => s.stateRoot)).size === 1 && st.every(s => s.moduleCount === count && !s.merging) ? st[0].stateRoot as string : undefined
  }, timeoutMs)
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

/** Polls until `check` returns a value (not undefined) or the time runs out. */
export async function waitFor<T> (what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v !== undefined) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last === undefined ? '' : `: ${(last as Error).message}`}`)
    await new Promise(r => setTimeout(r, 200))
  }
}
