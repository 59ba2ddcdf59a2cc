// A network of institutions on this machine, made in one call: a data directory and key per site,
// a signed genesis manifest naming them all, and every site joined. The testnet (`npm start`), the
// multi-process tests and the benchmarks all build their networks here.
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encodeKeyFile, encodeManifestFile, genesisManifestBody, newIdentity, signManifest } from '@medforge/protocol'
import type { GenesisInit, Identity, MemberRole, SignedManifest } from '@medforge/protocol'
import { loadNetworkState } from '../daemon/network-state.ts'
import { DataDir } from '../store/data-dir.ts'

export interface LocalSite { readonly name: string, readonly dir: string, readonly identity: Identity }

export interface LocalNetworkSpec extends Omit<GenesisInit, 'members'> {
  /** Where everything goes (created if missing); default a fresh temp directory. */
  readonly dir?: string
  readonly sites: ReadonlyArray<{ readonly name: string, readonly roles?: readonly MemberRole[] }>
  /**
   * Derive each site's key from this seed and its name, so that a rerun has the same peer ids (and,
   * since a module's CID names its author, the same state roots). Local testnets only: such keys
   * are public knowledge.
   */
  readonly keySeed?: string
  /** Members with a key (written as NAME.key.json) but no daemon: hostile peers in tests, late joiners. */
  readonly extraMembers?: readonly string[]
}

export interface LocalNetwork {
  readonly base: string
  readonly sites: LocalSite[]
  readonly extra: Map<string, Identity>
  readonly manifest: SignedManifest
  readonly network: string
  readonly manifestPath: string
  cleanup (): void
}

/** A site's directory name: its name in kebab-case. */
/** The key seed of a site of a local testnet (see LocalNetworkSpec.keySeed). */
export function siteKeySeed (keySeed: string, name: string): Uint8Array {
  return createHash('sha256').update(`${keySeed}|${name}`).digest()
}

export function siteDirName (name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')
}

export async function createLocalNetwork (spec: LocalNetworkSpec): Promise<LocalNetwork> {
  const base = spec.dir ?? mkdtempSync(join(tmpdir(), 'medforge-testnet-'))
  mkdirSync(base, { recursive: true })
  const sites: LocalSite[] = []
  for (const s of spec.sites) {
    const dataDir = new DataDir(join(base, siteDirName(s.name)))
    const identity = await dataDir.init(s.name, { listen: ['/ip4/127.0.0.1/tcp/0'], api: '127.0.0.1:0' }, spec.keySeed === undefined ? undefined : siteKeySeed(spec.keySeed, s.name))
    sites.push({ name: s.name, dir: dataDir.dir, identity })
  }
  const extra = new Map<string, Identity>()
  for (const name of spec.extraMembers ?? []) extra.set(name, await newIdentity())
  const members = [
    ...sites.map((s, i) => ({ peerId: s.identity.peerId, name: s.name, roles: [...(spec.sites[i]!.roles ?? ['contributor'])] })),
    ...[...extra].map(([name, id]) => ({ peerId: id.peerId, name, roles: ['contributor'] as MemberRole[] }))
  ]
  const body = genesisManifestBody({ ...spec, members, quorum: spec.quorum ?? 1 })
  // Signed by as many sites as the quorum needs (the first ones).
  const signers = [...sites.map(x => x.identity), ...extra.values()].slice(0, Math.max(1, body.quorum))
  let manifest: SignedManifest = { body, signatures: [] }
  for (const signer of signers) manifest = await signManifest(manifest, signer)
  const state = await loadNetworkState([manifest])
  for (const s of sites) {
    const dd = new DataDir(s.dir)
    dd.saveChain(state.network, [manifest])
    dd.writeConfig({ ...dd.config(), networks: [state.network] })
  }
  const manifestPath = join(base, 'manifest.json')
  writeFileSync(manifestPath, encodeManifestFile(manifest))
  for (const [name, id] of extra) writeFileSync(join(base, `${name}.key.json`), encodeKeyFile(id, name), { mode: 0o600 })
  return { base, sites, extra, manifest, network: state.network, manifestPath, cleanup: () => { rmSync(base, { recursive: true, force: true }) } }
}
