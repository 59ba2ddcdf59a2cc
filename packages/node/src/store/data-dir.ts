// The data directory of one institution's daemon:
//   key.json        the institution key (0600), also the libp2p identity
//   config.json     name, listen addresses, API address, joined networks, options
//   api-token       bearer token for the API's write endpoints (0600)
//   api.json        written by a running daemon: its API URL, pid and listen addresses
//   networks/<cid>/ the manifest chain of each joined network (revision-N.json)
//   ledger.sqlite   records, modules, roots, attestations, merges, checkpoints
//   blobs/          content-addressed blob store
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { writeAtomically } from '@medforge/merge-core'
import { decodeManifestFile, encodeKeyFile, encodeManifestFile, newIdentity, readKeyFile, restrictKeyFile } from '@medforge/protocol'
import type { Identity, SignedManifest } from '@medforge/protocol'
import { DataDirError } from '../errors.ts'

export interface DaemonConfig {
  readonly name: string
  readonly listen: readonly string[]
  /** HOST:PORT of the HTTP API. */
  readonly api: string
  readonly networks: readonly string[]
  readonly bootstrap: readonly string[]
  readonly membersOnly: boolean
  readonly mdns: boolean
}

export const DEFAULT_CONFIG: Omit<DaemonConfig, 'name'> = {
  listen: ['/ip4/0.0.0.0/tcp/4717'],
  api: '127.0.0.1:4718',
  networks: [],
  bootstrap: [],
  membersOnly: true,
  mdns: false
}

export interface RunningInfo { readonly url: string, readonly pid: number, readonly peerId: string, readonly addresses: readonly string[] }

export class DataDir {
  readonly dir: string

  constructor (dir: string) {
    this.dir = dir
  }

  get keyPath (): string { return join(this.dir, 'key.json') }
  get configPath (): string { return join(this.dir, 'config.json') }
  get tokenPath (): string { return join(this.dir, 'api-token') }
  get runningPath (): string { return join(this.dir, 'api.json') }
  get ledgerPath (): string { return join(this.dir, 'ledger.sqlite') }
  get blobDir (): string { return join(this.dir, 'blobs') }
  networkDir (network: string): string { return join(this.dir, 'networks', network) }

  /** Creates the key, config and API token; refuses to touch an initialised directory. */
  /** `keySeed` (32 bytes) derives the key: for local testnets only, whose runs must be reproducible. */
  async init (name: string, overrides: Partial<DaemonConfig> = {}, keySeed?: Uint8Array): Promise<Identity> {
    if (existsSync(this.keyPath)) throw new DataDirError(this.dir, 'already initialised (key.json exists)')
    mkdirSync(this.dir, { recursive: true, mode: 0o700 })
    const identity = await newIdentity(keySeed)
    writeFileSync(this.keyPath, encodeKeyFile(identity, name), { mode: 0o600 })
    restrictKeyFile(this.keyPath)
    writeFileSync(this.tokenPath, randomBytes(24).toString('base64url') + '\n', { mode: 0o600 })
    this.writeConfig({ ...DEFAULT_CONFIG, name, ...overrides })
    return identity
  }

  requireInitialised (): void {
    if (!existsSync(this.keyPath) || !existsSync(this.configPath)) throw new DataDirError(this.dir, "not initialised: run 'medforge init --name NAME --data-dir DIR' first")
  }

  identity (): Identity & { name?: string } {
    this.requireInitialised()
    return readKeyFile(this.keyPath)
  }

  config (): DaemonConfig {
    this.requireInitialised()
    let json: Partial<DaemonConfig>
    try {
      json = JSON.parse(readFileSync(this.configPath, 'utf8')) as Partial<DaemonConfig>
    } catch (err) {
      throw new DataDirError(this.dir, `config.json is not valid JSON: ${(err as Error).message}`)
    }
    const config = { ...DEFAULT_CONFIG, name: '', ...json }
    const strings = (v: unknown): boolean => Array.isArray(v) && v.every(x => typeof x === 'string')
    if (typeof config.name !== 'string' || !strings(config.listen) || !strings(config.networks) || !strings(config.bootstrap) || typeof config.api !== 'string') {
      throw new DataDirError(this.dir, 'config.json: name and api must be strings, listen, networks and bootstrap lists of strings')
    }
    return config
  }

  writeConfig (config: DaemonConfig): void {
    writeAtomically(this.configPath, JSON.stringify(config, null, 2) + '\n')
  }

  apiToken (): string {
    return readFileSync(this.tokenPath, 'utf8').trim()
  }

  saveChain (network: string, chain: readonly SignedManifest[]): void {
    const dir = this.networkDir(network)
    mkdirSync(dir, { recursive: true })
    chain.forEach((m, i) => writeAtomically(join(dir, `revision-${i}.json`), encodeManifestFile(m)))
  }

  loadChain (network: string): SignedManifest[] {
    const dir = this.networkDir(network)
    if (!existsSync(dir)) throw new DataDirError(this.dir, `network ${network} is in config.json but networks/${network} is missing; join it again`)
    const files = readdirSync(dir).filter(f => /^revision-\d+\.json$/.test(f)).sort((a, b) => Number(a.slice(9, -5)) - Number(b.slice(9, -5)))
    return files.map(f => decodeManifestFile(readFileSync(join(dir, f), 'utf8')))
  }

  writeRunning (info: RunningInfo): void {
    writeAtomically(this.runningPath, JSON.stringify(info, null, 2) + '\n')
  }

  /** The running daemon's API and addresses; undefined when none runs (a stale file from a killed one included). */
  running (): RunningInfo | undefined {
    let info: RunningInfo
    try {
      info = JSON.parse(readFileSync(this.runningPath, 'utf8')) as RunningInfo
    } catch {
      return undefined
    }
    try {
      process.kill(info.pid, 0) // signal 0: does the process exist?
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return undefined
    }
    return info
  }

  /** A clean stop removes api.json, so no one dials a dead daemon's address. */
  clearRunning (info: Pick<RunningInfo, 'pid'>): void {
    if (this.running()?.pid === info.pid) rmSync(this.runningPath, { force: true })
  }
}
