// `medforge testnet` (= `npm start`): the whole MedForge story on one machine. Creates a fresh
// network of N institutions, starts one daemon process each, lets every site train and distil on
// its private shard and publish when done (asynchronous arrival), watches all daemons converge on
// one state root, and reports the composite's test metrics next to each site's own module. The
// dashboards stay up until Ctrl-C unless --exit is given.
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { METHOD_NAMES, readPeftAdapter } from '@medforge/merge-core'
import { VIT_ARCHITECTURE, clinicalTask, compositeTaskMetrics, evaluateOnSet, evaluateOnSplit, loadBaseWeights, loadDataset, loadTf } from '@medforge/clinical'
import type { BackendName, EvalData, ImageSet } from '@medforge/clinical'
import { compositeFromDataDir } from '../daemon/composite-export.ts'
import { DataDir } from '../store/data-dir.ts'
import { agreeOn } from '../testnet/convergence.ts'
import { DaemonUnreachableError, MEDFORGE_BIN, logTail, spawnDaemon } from '../testnet/daemon-process.ts'
import { createLocalNetwork } from '../testnet/local-network.ts'
import type { DaemonProcess } from '../testnet/daemon-process.ts'
import { LATE_SITE_NAME, LATE_TASK, addLateSite } from '../testnet/late-task.ts'
import { createLiveTable } from '../testnet/live-table.ts'
import type { SiteRow } from '../testnet/live-table.ts'
import { testnetSites } from '../testnet/testnet-plan.ts'
import type { TestnetSite } from '../testnet/testnet-plan.ts'
import { readModuleBundle } from './module-bundle.ts'
import { UsageError } from './usage-error.ts'

export const TESTNET_HELP = `medforge testnet — a local multi-institution network in one command (npm start)

  medforge testnet [--institutions N] [--late-task] [--method M] [--backend wasm|cpu|gpu] [--dir DIR] [--exit] [--json]
      --institutions N   1 to 10 (default 3: two pneumonia hospitals, one breast-ultrasound clinic)
      --late-task        once they converge, the network grows: a revision adds a colour 5-class task
                         and a new institution (generated images), which joins, trains, publishes
      --method M         the network's merge method (default medforge-regmean; ${METHOD_NAMES.join(', ')})
      --dir DIR          where keys, manifest, data directories and bundles go (default: a temp dir)
      --exit             stop everything after the summary instead of leaving the dashboards up
      --json             print a machine-readable summary at the end
  Training: 10 epochs, keeping the best validation epoch (the bench:clinical recipe); smaller runs:
  --epochs N --max-train N --ipc N --distill-iterations N --fusion-budget N
`

/** The clinical bench's recipe, so that the summary compares with BENCHMARKS.md. */
const TESTNET_EPOCHS = '10'

/** The testnet's keys derive from this and the site names: a rerun gives the same state root. */
const TESTNET_KEY_SEED = 'medforge-local-testnet'

/** From the last publication to every daemon attesting one root (Fusion folds take a while on 2 cores). */
const CONVERGENCE_TIMEOUT_MS = 5 * 60_000

interface SiteState extends TestnetSite {
  dir: string
  bundle: string
  daemon?: DaemonProcess
  phase: string
  trainSeconds?: number
  samples?: number
  published?: number
}

function runTrain (site: SiteState, args: string[], onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MEDFORGE_BIN, 'train', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let err = ''
    let buffer = ''
    child.stdout.on('data', (d: Buffer) => {
      buffer += d.toString()
      const lines = buffer.split('\n')
      buffer = lines.pop()!
      for (const l of lines) onLine(l)
    })
    child.stderr.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-4000) })
    child.on('exit', code => code === 0 ? resolve() : reject(new Error(`training at ${site.name} failed (exit ${code}): ${err.trim().split('\n').slice(-3).join(' ')}`)))
  })
}

/** The methods whose coefficient search --fusion-budget bounds. */
const SEARCHED = ['medforge-fusion', 'medforge-fusion-product', 'medforge-mixture']

export async function testnetCommand (args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      institutions: { type: 'string' }, 'late-task': { type: 'boolean' }, method: { type: 'string' }, backend: { type: 'string' }, dir: { type: 'string' }, exit: { type: 'boolean' }, json: { type: 'boolean' },
      epochs: { type: 'string' }, 'max-train': { type: 'string' }, ipc: { type: 'string' }, 'distill-iterations': { type: 'string' }, 'fusion-budget': { type: 'string' }
    }
  })
  const started = performance.now()
  const count = Number(values.institutions ?? 3)
  let plan: TestnetSite[]
  try {
    plan = testnetSites(count)
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const method = values.method ?? 'medforge-regmean'
  if (!(METHOD_NAMES as readonly string[]).includes(method)) throw new UsageError(`--method must be one of ${METHOD_NAMES.join(', ')}`)
  const backend = (values.backend ?? 'wasm') as BackendName
  if (!['wasm', 'cpu', 'gpu'].includes(backend)) throw new UsageError('--backend must be wasm, cpu or gpu')
  const json = values.json === true
  const say = json ? () => {} : (line = '') => console.log(line)
  const base = values.dir ?? mkdtempSync(join(tmpdir(), 'medforge-testnet-'))
  if (existsSync(base) && readdirSync(base).length > 0) throw new UsageError(`--dir ${base} is not empty`)
  mkdirSync(base, { recursive: true })
  // Without --dir the files (a few hundred MB of ledgers, blobs and bundles) go when the run ends;
  // a failed run keeps them for a look at what went wrong, and says where.
  const removeTemporary = (): void => { if (values.dir === undefined) rmSync(base, { recursive: true, force: true }) }

  say(`MedForge testnet: ${plan.length} institutions in ${base}`)
  const baseModel = loadBaseWeights()
  const tasks = [...new Set(plan.map(p => p.task))].map(id => {
    const t = clinicalTask(id)
    return { id: t.id, modality: t.modality, labels: [...t.labels], metric: 'auc' }
  })
  const net = await createLocalNetwork({
    dir: base,
    networkId: 'local-testnet',
    keySeed: TESTNET_KEY_SEED,
    name: 'MedForge local testnet',
    sites: plan.map(p => ({ name: p.name })),
    baseModel: { architecture: VIT_ARCHITECTURE, weights: baseModel.cid },
    tasks,
    lora: { targets: ['q_proj', 'v_proj'], rank: 4, alpha: 8 },
    merge: { method, params: values['fusion-budget'] === undefined || !SEARCHED.includes(method) ? {} : { budget: Number(values['fusion-budget']) } },
    limits: { maxModuleBytes: 16 * 1024 * 1024, maxMessageBytes: 64 * 1024 }
  })
  const sites: SiteState[] = plan.map((p, i) => ({ ...p, dir: net.sites[i]!.dir, bundle: join(net.sites[i]!.dir, 'bundle'), phase: 'starting' }))
  say(`network ${net.network} (${method}), manifest ${join(base, 'manifest.json')}`)

  const stopAll = async (): Promise<void> => { await Promise.all(sites.map(async s => await s.daemon?.stop())) }
  let interrupted = false
  let failed = false
  const onSignal = (): void => {
    if (interrupted) return
    interrupted = true
    say('\nstopping the daemons…')
    void stopAll().then(() => { removeTemporary(); process.exit(0) })
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  try {
    for (const [i, s] of sites.entries()) {
      s.daemon = await spawnDaemon(s.dir, { label: s.name, bootstrap: i === 0 ? [] : sites[0]!.daemon!.addresses, extraArgs: ['--sync-interval', '2000'] })
    }
    say(`${sites.length} daemons up; dashboards: ${sites.map(s => `${s.name} ${s.daemon!.url}/`).join(', ')}`)
    say()
    const table = createLiveTable()
    const rows = async (): Promise<SiteRow[]> => await Promise.all(sites.map(async s => {
      try {
        const st = await s.daemon!.status()
        const n = st.networks[0]!
        return { name: s.name, task: s.task, phase: n.merging ? `${s.phase}, merging` : s.phase, peers: st.peers, modules: `${n.modules.ready ?? 0} ready${(n.modules.fetching ?? 0) > 0 ? `, ${n.modules.fetching} fetching` : ''}`, stateRoot: n.stateRoot, agree: n.agreement.peersHeard > 0 ? n.agreement.agree : null }
      } catch {
        return { name: s.name, task: s.task, phase: s.phase, peers: null, modules: '–', stateRoot: null, agree: null }
      }
    }))
    const ticker = json ? undefined : setInterval(() => { void rows().then(r => table.render(r)) }, 500)

    const sizeArgs = [
      '--epochs', values.epochs ?? TESTNET_EPOCHS,
      ...(values['max-train'] === undefined ? [] : ['--max-train', values['max-train']]),
      ...(values.ipc === undefined ? [] : ['--ipc', values.ipc]),
      ...(values['distill-iterations'] === undefined ? [] : ['--distill-iterations', values['distill-iterations']])
    ]
    const trainArgs = (s: SiteState): string[] => [
      '--task', s.task, '--site', `${s.shard.index}/${s.shard.count}`, ...(s.shard.alpha === undefined ? [] : ['--alpha', String(s.shard.alpha)]),
      '--seed', 'testnet', '--out', s.bundle, '--backend', backend, ...sizeArgs
    ]
    const trainAndPublish = async (s: SiteState, args: string[]): Promise<void> => {
      s.phase = 'training'
      const t0 = performance.now()
      await runTrain(s, args, line => {
        const epoch = /^\s*epoch\s+(\d+)/.exec(line)
        if (line.includes('kept epoch')) s.phase = 'distilling'
        else if (epoch !== null) s.phase = `training, epoch ${epoch[1]}`
      })
      s.trainSeconds = (performance.now() - t0) / 1000
      s.phase = 'publishing'
      const bundle = readModuleBundle(s.bundle)
      s.samples = bundle.meta.samples
      const res = await s.daemon!.post('/modules', { task: s.task, module: Buffer.from(bundle.moduleFile).toString('base64'), distilled: Buffer.from(bundle.distilledFile!).toString('base64'), samples: bundle.meta.samples, metrics: bundle.meta.metrics ?? {} })
      if (res.status !== 200) throw new Error(`${s.name} could not publish: ${JSON.stringify(res.body)}`)
      s.published = performance.now()
      s.phase = `published (height ${res.body.height})`
    }
    // Every site trains on its own shard in its own process, and publishes as soon as it is done:
    // arrival order and timing are whatever the sites' data sizes make them.
    await Promise.all(sites.map(async s => { await trainAndPublish(s, trainArgs(s)) }))

    // Convergence: every daemon attests the same root over all modules.
    let root = await agreeOn(sites.map(s => s.daemon!), sites.length, CONVERGENCE_TIMEOUT_MS, { attested: true })
    for (const s of sites) s.phase = 'converged'
    const convergedSeconds = (performance.now() - started) / 1000
    const tf = await loadTf(backend)
    const founders = sites.length
    const firstComposite = await compositeFromDataDir(sites[0]!.dir)
    if (firstComposite.stateRoot !== root) throw new Error(`recomputing the composite gave ${firstComposite.stateRoot}, the network attests ${root}`)
    let result = firstComposite
    let lateTest: ImageSet | undefined
    if (values['late-task'] === true) {
      // The network grows while it runs: a revision adds a task and an institution, which joins,
      // trains on its own images and publishes; every daemon merges it.
      const late = await addLateSite({ base, keySeed: TESTNET_KEY_SEED, network: net.network, chain: [net.manifest], signers: net.sites.slice(0, net.manifest.body.quorum).map(x => x.identity), via: sites[0]!.daemon!, founders: sites.map(x => x.daemon!) })
      const lateTaskSpec = { classes: LATE_TASK.labels, channels: LATE_TASK.input!.channels, side: LATE_TASK.input!.size, seed: 'testnet' }
      lateTest = loadDataset(late.data, lateTaskSpec).test
      const site: SiteState = { name: late.name, task: LATE_TASK.id, shard: { index: 0, count: 1, alpha: undefined }, dir: late.dir, bundle: join(late.dir, 'bundle'), phase: 'joining' }
      sites.push(site)
      for (const s of sites.slice(0, founders)) s.phase = 'revision 1'
      site.daemon = await spawnDaemon(site.dir, { label: site.name, bootstrap: sites[0]!.daemon!.addresses, extraArgs: ['--sync-interval', '2000'] })
      await trainAndPublish(site, ['--data-dir', site.dir, '--task', LATE_TASK.id, '--data', late.data, '--seed', 'testnet', '--out', site.bundle, '--backend', backend, ...sizeArgs])
      root = await agreeOn(sites.map(s => s.daemon!), sites.length, CONVERGENCE_TIMEOUT_MS, { attested: true })
      for (const s of sites) s.phase = 'converged'
      result = await compositeFromDataDir(sites[0]!.dir)
      if (result.stateRoot !== root) throw new Error(`recomputing the composite gave ${result.stateRoot}, the network attests ${root}`)
      tasks.push({ id: LATE_TASK.id, modality: LATE_TASK.modality, labels: [...LATE_TASK.labels], metric: LATE_TASK.metric })
    }
    if (ticker !== undefined) { clearInterval(ticker); table.render(await rows()) }
    say()
    say(`all ${sites.length} daemons attest state root ${root} (${((performance.now() - started) / 1000).toFixed(0)} s after start)`)

    // The clinical numbers: each site's own module, and the composite, on the test splits.
    const taskIds = tasks.map(t => t.id)
    const testOf = (task: string): EvalData => task === LATE_TASK.id ? lateTest! : 'test'
    const siteMetrics = sites.map(s => {
      const { module } = readPeftAdapter(s.bundle)
      const m = s.task === LATE_TASK.id ? evaluateOnSet(tf, baseModel.weights, module, module.heads, lateTest!) : evaluateOnSplit(tf, baseModel.weights, module, module.heads, s.task)
      return { name: s.name, task: s.task, peerId: new DataDir(s.dir).identity().peerId, samples: s.samples, trainSeconds: Math.round(s.trainSeconds ?? 0), test: { accuracy: m.accuracy, auc: m.auc, f1: m.f1 } }
    })
    const composite = Object.fromEntries(taskIds.map(t => [t, compositeTaskMetrics(tf, baseModel.weights, result, t, testOf(t))]))
    const before = result === firstComposite ? undefined : Object.fromEntries(taskIds.map(t => [t, compositeTaskMetrics(tf, baseModel.weights, firstComposite, t, testOf(t))]))
    const f3 = (x: number | undefined): string => x === undefined || Number.isNaN(x) ? '–' : x.toFixed(3)
    say()
    say(`test metrics (official MedMNIST v2 test splits${lateTest === undefined ? '' : `; ${LATE_TASK.id}: the generated set's test split`}; ${method} composite run with each of the task's contributors' heads, probabilities averaged):`)
    say()
    const header = ['model', ...taskIds.flatMap(t => [`${t} ACC`, `${t} AUC`])]
    const lines: string[][] = [
      ...siteMetrics.map(s => [`${s.name} alone (${s.samples} images)`, ...taskIds.flatMap(t => t === s.task ? [f3(s.test.accuracy), f3(s.test.auc)] : ['–', '–'])]),
      ...(before === undefined ? [] : [[`composite before ${LATE_SITE_NAME} (${firstComposite.inputs.length})`, ...taskIds.flatMap(t => [f3(before[t]?.accuracy), f3(before[t]?.auc)])]]),
      [`composite (${result.inputs.length} modules)`, ...taskIds.flatMap(t => [f3(composite[t]?.accuracy), f3(composite[t]?.auc)])],
      ['published ResNet-18 (28), central', ...taskIds.flatMap(t => t === LATE_TASK.id ? ['–', '–'] : [f3(clinicalTask(t).baseline.acc), f3(clinicalTask(t).baseline.auc)])]
    ]
    const widths = header.map((_, i) => Math.max(header[i]!.length, ...lines.map(l => l[i]!.length)))
    for (const l of [header, ...lines]) say(`  ${l.map((c, i) => i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)).join('  ')}`)
    // What a hospital asks first: does the composite serve my task as well as my own module does?
    const gaps = Object.fromEntries(taskIds.map(t => {
      const best = Math.max(...siteMetrics.filter(s => s.task === t).map(s => s.test.auc))
      return [t, { bestSite: best, composite: composite[t]?.auc ?? NaN, gap: (composite[t]?.auc ?? NaN) - best }]
    }))
    say()
    say(`composite AUC against the best site module of each task: ${taskIds.map(t => `${t} ${gaps[t]!.gap >= 0 ? '+' : ''}${f3(gaps[t]!.gap)}${gaps[t]!.gap >= -0.02 ? '' : ' (more than 0.02 below)'}`).join(', ')}`)
    const totalSeconds = (performance.now() - started) / 1000
    say()
    say(`total ${totalSeconds.toFixed(0)} s`)
    if (json) {
      console.log(JSON.stringify({
        dir: base, network: net.network, method, stateRoot: root, converged: true, seconds: Math.round(totalSeconds), convergedSeconds: Math.round(convergedSeconds),
        institutions: siteMetrics, composite, againstBestSite: gaps, ...(before === undefined ? {} : { compositeBeforeLateSite: before }), dashboards: sites.map(s => ({ name: s.name, url: `${s.daemon!.url}/` }))
      }, null, 2))
    }
    if (values.exit === true) return
    say()
    say('dashboards (Ctrl-C stops everything):')
    for (const s of sites) say(`  ${s.name.padEnd(12)} ${s.daemon!.url}/`)
    say(`join from another machine: copy ${join(base, 'manifest.json')}, then medforge network join + medforge daemon --bootstrap ${sites[0]!.daemon!.addresses[0]}`)
    await new Promise<void>(() => {}) // until SIGINT/SIGTERM
  } catch (err) {
    for (const s of sites) {
      if (s.daemon !== undefined && s.daemon.child.exitCode !== null && !(err instanceof DaemonUnreachableError)) console.error(`${s.name}'s daemon exited:\n${logTail(s.daemon.output())}`)
    }
    failed = true
    if (values.dir === undefined) console.error(`the testnet's files are kept in ${base}`)
    throw err
  } finally {
    if (!interrupted) await stopAll()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    if (!interrupted && !failed) removeTemporary()
  }
}
