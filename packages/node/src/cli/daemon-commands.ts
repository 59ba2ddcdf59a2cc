// `medforge init | daemon | publish | status | composite export` and `network join`: running an
// institution's daemon and talking to it.
import { existsSync, readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { writeComposite } from '@medforge/merge-core'
import { decodeManifestFile, verifyManifestChain } from '@medforge/protocol'
import { startDaemon } from '../daemon/daemon.ts'
import { compositeFromDataDir } from '../daemon/composite-export.ts'
import { loadNetworkState } from '../daemon/network-state.ts'
import { DataDir } from '../store/data-dir.ts'
import { ApiRequestError } from '../errors.ts'
import { callApi } from './api-client.ts'
import { readModuleBundle } from './module-bundle.ts'
import { UsageError } from './usage-error.ts'

export const DAEMON_HELP = `medforge init | daemon | address | publish | status | composite — an institution's daemon

  medforge init --name NAME --data-dir DIR [--listen MULTIADDR]... [--api HOST:PORT]
        create the data directory: key (the libp2p identity), config, API token; prints the peer id
  medforge network join MANIFEST [REVISION...] --data-dir DIR
        join a network: verifies the manifest chain and that this build has its base model
  medforge daemon --data-dir DIR [--listen MULTIADDR]... [--api HOST:PORT] [--bootstrap MULTIADDR]...
        [--mdns] [--no-members-only] [--fetch-timeout MS] [--max-gossip-age MS] [--max-blob-bytes N]
        [--peer-rate MSGS_PER_S] [--sync-interval MS] [--api-host NAME]... [--quiet]
        run the daemon (gossip, fetch, merge, attest, HTTP API and dashboard) until SIGINT/SIGTERM
  medforge address --data-dir DIR [--wait SECONDS] [--all]
        the running daemon's listen address (with /p2p/), for another daemon's --bootstrap;
        --wait waits for the daemon to be up
  medforge stop --data-dir DIR [--wait SECONDS]
        stops the running daemon cleanly (SIGTERM) and waits for it to exit (default 20 s)
  medforge publish BUNDLE --data-dir DIR [--task T] [--samples N] [--json]
        sign and publish a module bundle through the running daemon
  medforge status --data-dir DIR [--json] [--wait SECONDS [--modules N]]
        peers, modules, state root and whether the peers agree; --wait waits until every peer
        heard attests this daemon's root (with at least N modules merged), exit 1 if it never does
  medforge composite export --data-dir DIR --out DIR [--network CID]
        the composite as a PEFT adapter plus task heads
`

export const dataDirOption = { 'data-dir': { type: 'string' as const } }

export function dataDirOf (values: { 'data-dir'?: string | undefined }): DataDir {
  const dir = values['data-dir'] ?? process.env.MEDFORGE_DATA_DIR
  if (dir === undefined) throw new UsageError('--data-dir DIR is required (or set MEDFORGE_DATA_DIR)')
  return new DataDir(dir)
}

export async function initCommand (args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { ...dataDirOption, name: { type: 'string' }, listen: { type: 'string', multiple: true }, api: { type: 'string' } } })
  if (values.name === undefined) throw new UsageError('init needs --name "Institution name"')
  const dataDir = dataDirOf(values)
  const identity = await dataDir.init(values.name, {
    ...(values.listen === undefined ? {} : { listen: values.listen }),
    ...(values.api === undefined ? {} : { api: values.api })
  })
  console.log(`initialised ${dataDir.dir}\npeer id  ${identity.peerId}\nnext     add this peer id to a network manifest, then: medforge network join MANIFEST --data-dir ${dataDir.dir}`)
}

export async function networkJoin (args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { ...dataDirOption } })
  if (positionals.length === 0) throw new UsageError('network join takes MANIFEST [REVISION...] --data-dir DIR')
  const dataDir = dataDirOf(values)
  const identity = dataDir.identity()
  const chain = positionals.map(p => {
    if (!existsSync(p)) throw new UsageError(`no manifest at ${p}`)
    return decodeManifestFile(readFileSync(p, 'utf8'))
  })
  const { current, network } = await verifyManifestChain(chain)
  await loadNetworkState(chain) // checks this build has the network's base model
  dataDir.saveChain(network, chain)
  const config = dataDir.config()
  if (!config.networks.includes(network)) dataDir.writeConfig({ ...config, networks: [...config.networks, network] })
  const member = current.members.find(m => m.peerId === identity.peerId)
  console.log(`joined ${current.name} (${network}), revision ${current.revision}`)
  console.log(member === undefined
    ? `warning: this institution (${identity.peerId}) is not a member; members-only peers will refuse its connections`
    : `member as ${member.name} (${member.roles.join(', ')})`)
}

export async function daemonCommand (args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      ...dataDirOption,
      listen: { type: 'string', multiple: true },
      api: { type: 'string' },
      'api-host': { type: 'string', multiple: true },
      bootstrap: { type: 'string', multiple: true },
      'members-only': { type: 'boolean' },
      'no-members-only': { type: 'boolean' },
      mdns: { type: 'boolean' },
      quiet: { type: 'boolean' },
      'sync-interval': { type: 'string' },
      'fetch-timeout': { type: 'string' },
      'max-gossip-age': { type: 'string' },
      'max-blob-bytes': { type: 'string' },
      'peer-rate': { type: 'string' }
    }
  })
  const num = (flag: string): number | undefined => {
    const v = (values as Record<string, string | boolean | string[] | undefined>)[flag]
    if (v === undefined) return undefined
    const n = Number(v)
    if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${flag} must be a positive number, got "${String(v)}"`)
    return n
  }
  const runtime = {
    ...(num('fetch-timeout') === undefined ? {} : { fetchTimeoutMs: num('fetch-timeout')! }),
    ...(num('max-gossip-age') === undefined ? {} : { maxGossipAgeMs: num('max-gossip-age')! }),
    ...(num('peer-rate') === undefined ? {} : { peerMessagesPerSecond: num('peer-rate')! })
  }
  const empty = (values.bootstrap ?? []).find(a => !a.startsWith('/'))
  if (empty !== undefined) throw new UsageError(`--bootstrap ${JSON.stringify(empty)} is not a multiaddr (an address like /ip4/203.0.113.7/tcp/4717/p2p/12D3KooW…; 'medforge address --data-dir DIR --wait 30' prints a running daemon's)`)
  const dataDir = dataDirOf(values)
  const log = values.quiet === true ? () => {} : (line: string) => console.log(`${new Date().toISOString()} ${line}`)
  const daemon = await startDaemon({
    dataDir: dataDir.dir,
    log,
    ...(values.listen === undefined ? {} : { listen: values.listen }),
    ...(values.api === undefined ? {} : { api: values.api }),
    ...(values['api-host'] === undefined ? {} : { apiHosts: values['api-host'] }),
    ...(values.bootstrap === undefined ? {} : { bootstrap: values.bootstrap }),
    ...(values['no-members-only'] === true ? { membersOnly: false } : values['members-only'] === true ? { membersOnly: true } : {}),
    ...(values.mdns === true ? { mdns: true } : {}),
    ...(values['sync-interval'] === undefined ? {} : { syncIntervalMs: num('sync-interval')! }),
    ...(num('max-blob-bytes') === undefined ? {} : { maxBlobBytes: num('max-blob-bytes')! }),
    runtime
  })
  let stopping = false
  const shutdown = (signal: string): void => {
    if (stopping) return
    stopping = true
    log(`${signal}: shutting down`)
    const force = setTimeout(() => { console.error('shutdown took over 10 s; exiting'); process.exit(1) }, 10_000)
    force.unref()
    daemon.stop().then(() => { process.exitCode = 0 }, err => { console.error(`shutdown failed: ${(err as Error).message}`); process.exitCode = 1 })
  }
  process.on('SIGINT', () => shutdown('SIGINT'))
  process.on('SIGTERM', () => shutdown('SIGTERM'))
}

/** `medforge address`: a running daemon's listen address, waiting for it to come up if asked. */
export async function addressCommand (args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { ...dataDirOption, wait: { type: 'string' }, all: { type: 'boolean' } } })
  const dataDir = dataDirOf(values)
  const waitMs = values.wait === undefined ? 0 : Number(values.wait) * 1000
  if (!Number.isFinite(waitMs) || waitMs < 0) throw new UsageError(`--wait must be a number of seconds, got "${values.wait}"`)
  const deadline = Date.now() + waitMs
  for (;;) {
    const running = dataDir.running()
    const reachable = running !== undefined && await fetch(`${running.url}/status`, { signal: AbortSignal.timeout(2000) }).then(r => r.ok, () => false)
    if (reachable && running.addresses.length > 0) {
      // Loopback first: the address that works on this machine, where a walkthrough runs.
      const sorted = [...running.addresses].sort((a, b) => Number(b.includes('/127.0.0.1/')) - Number(a.includes('/127.0.0.1/')))
      const withId = sorted.map(a => a.includes('/p2p/') ? a : `${a}/p2p/${running.peerId}`)
      console.log(values.all === true ? withId.join('\n') : withId[0])
      return
    }
    if (Date.now() >= deadline) throw new ApiRequestError(`no running daemon for ${dataDir.dir}${waitMs > 0 ? ` after ${waitMs / 1000} s` : ''} (start it with 'medforge daemon --data-dir ${dataDir.dir}')`, 0)
    await new Promise(resolve => setTimeout(resolve, 200))
  }
}

/** `medforge stop`: SIGTERM to the data directory's running daemon, then wait until it has exited. */
export async function stopCommand (args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { ...dataDirOption, wait: { type: 'string' } } })
  const dataDir = dataDirOf(values)
  const running = dataDir.running()
  if (running === undefined) { console.log(`no daemon is running for ${dataDir.dir}`); return }
  const waitMs = Number(values.wait ?? 20) * 1000
  if (!Number.isFinite(waitMs) || waitMs < 0) throw new UsageError(`--wait must be a number of seconds, got "${values.wait}"`)
  process.kill(running.pid, 'SIGTERM')
  const deadline = Date.now() + waitMs
  const alive = (): boolean => { try { process.kill(running.pid, 0); return true } catch { return false } }
  while (alive()) {
    if (Date.now() >= deadline) throw new ApiRequestError(`the daemon (pid ${running.pid}) is still stopping after ${waitMs / 1000} s`, 0)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  console.log(`stopped the daemon of ${dataDir.dir} (pid ${running.pid})`)
}

export async function publishCommand (args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { ...dataDirOption, task: { type: 'string' }, samples: { type: 'string' }, network: { type: 'string' }, api: { type: 'string' }, json: { type: 'boolean' } } })
  if (positionals.length !== 1) throw new UsageError('publish takes one ADAPTER_OR_BUNDLE folder')
  const dataDir = dataDirOf(values)
  const bundle = readModuleBundle(positionals[0]!)
  const task = values.task ?? bundle.meta.task
  if (task === undefined) throw new UsageError('publish needs --task (or a medforge-module.json with "task")')
  if (bundle.distilledFile === undefined) throw new UsageError(`${positionals[0]} has no distilled.safetensors: a module bundle carries its distilled set`)
  const samples = values.samples === undefined ? bundle.meta.samples ?? 1 : Number(values.samples)
  const query = values.network === undefined ? '' : `?network=${encodeURIComponent(values.network)}`
  const result = await callApi(dataDir, 'POST', `/modules${query}`, {
    task,
    module: Buffer.from(bundle.moduleFile).toString('base64'),
    distilled: Buffer.from(bundle.distilledFile).toString('base64'),
    samples,
    metrics: bundle.meta.metrics ?? {}
  }, values.api === undefined ? {} : { api: values.api }) as Record<string, unknown>
  if (values.json === true) { console.log(JSON.stringify(result, null, 2)); return }
  console.log(`published module ${String(result.module)} (height ${String(result.height)}, on ${String(result.parentRoot)})`)
}

interface StatusView {
  peerId: string
  name: string
  addresses: string[]
  peers: number
  networks: Array<{
    network: string, name: string, method: string, stateRoot: string, height: number, moduleCount: number, merging: boolean,
    modules: Record<string, number>, refusals: Record<string, number>,
    agreement: { agree: boolean, peersHeard: number, roots: Array<{ stateRoot: string, height: number, moduleCount: number, peers: string[] }> }
  }>
}

export async function statusCommand (args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { ...dataDirOption, json: { type: 'boolean' }, api: { type: 'string' }, wait: { type: 'string' }, modules: { type: 'string' } } })
  const dataDir = dataDirOf(values)
  const waitMs = values.wait === undefined ? 0 : Number(values.wait) * 1000
  const wantModules = values.modules === undefined ? 0 : Number(values.modules)
  if (!Number.isFinite(waitMs) || waitMs < 0 || !Number.isSafeInteger(wantModules) || wantModules < 0) throw new UsageError('--wait takes seconds and --modules a count')
  const settled = (s: StatusView): boolean => s.networks.every(n => n.agreement.agree && !n.merging && n.moduleCount >= wantModules)
  const deadline = Date.now() + waitMs
  let status = await callApi(dataDir, 'GET', '/status', undefined, values.api === undefined ? {} : { api: values.api }) as StatusView
  // --wait: until every peer heard attests this daemon's root (and --modules are merged), or the time is up.
  while (waitMs > 0 && !settled(status) && Date.now() < deadline) {
    await new Promise(resolve => setTimeout(resolve, 500))
    status = await callApi(dataDir, 'GET', '/status', undefined, values.api === undefined ? {} : { api: values.api }) as StatusView
  }
  if (waitMs > 0 && !settled(status)) process.exitCode = 1
  if (values.json === true) { console.log(JSON.stringify(status, null, 2)); return }
  const peers = await callApi(dataDir, 'GET', '/peers', undefined, values.api === undefined ? {} : { api: values.api }) as { peers: Array<{ peerId: string, name: string | null, latencyMs: number | null, gossipScore: number }> }
  const lines = [`${status.name}  ${status.peerId}`, `listening ${status.addresses.join(' ')}`, `peers     ${status.peers}`]
  for (const p of peers.peers) lines.push(`  ${p.peerId}  ${(p.name ?? '(not a member)').padEnd(20)} ${p.latencyMs === null ? '' : `${p.latencyMs} ms`}  score ${p.gossipScore.toFixed(1)}`)
  for (const n of status.networks) {
    lines.push(`network   ${n.name} ${n.network}`)
    lines.push(`  state root ${n.stateRoot}  height ${n.height}, ${n.moduleCount} module(s), ${n.method}${n.merging ? ' (merging…)' : ''}`)
    lines.push(`  modules    ${Object.entries(n.modules).map(([k, v]) => `${v} ${k}`).join(', ')}`)
    lines.push(`  agreement  ${n.agreement.peersHeard === 0 ? 'no attestations heard yet' : n.agreement.agree ? `all ${n.agreement.peersHeard} peer(s) heard attest this root` : 'PEERS DISAGREE'}`)
    for (const r of n.agreement.roots) lines.push(`    ${r.stateRoot}  height ${r.height}, ${r.moduleCount} module(s): ${r.peers.length} peer(s)`)
    const refusals = Object.entries(n.refusals)
    if (refusals.length > 0) lines.push(`  refused    ${refusals.map(([k, v]) => `${k} ${v}`).join(', ')}`)
  }
  console.log(lines.join('\n'))
}

/** Exports the composite from the data directory itself (works whether or not the daemon runs). */
export async function compositeCommand (args: string[]): Promise<void> {
  const [sub, ...rest] = args
  if (sub !== 'export') throw new UsageError('composite export --data-dir DIR --out DIR [--network CID]')
  const { values } = parseArgs({ args: rest, options: { ...dataDirOption, out: { type: 'string' }, network: { type: 'string' } } })
  if (values.out === undefined) throw new UsageError('composite export needs --out DIR')
  const result = await compositeFromDataDir(dataDirOf(values).dir, values.network)
  writeComposite(values.out, result)
  console.log(`exported the composite of ${result.inputs.length} module(s), state root ${result.stateRoot}, to ${values.out}`)
}
