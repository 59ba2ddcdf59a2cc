// Propagation at scale: N daemons spread over P OS processes (so one event loop does not carry
// everyone), publish → every daemon merged the module and every attestation heard by the
// publisher names it (every daemon attests after merging), for a data-free merge and for MedForge-Fusion (toy model). The first process
// hosts one daemon alone, whose resident memory is reported at the end (a daemon with N−1 peers).
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { readModuleBundle } from '@medforge/node'
import { createTestnet, makeBundle } from '../../test/support/testnet-fixture.ts'
import { percentile, statsOf } from './measure.ts'

export const PROPAGATION_SCALE_HEADER = '| daemons | processes | method | publications | p50 ms | p95 ms | max ms | daemon 0: peers, RSS MiB | refusals, all daemons | warm-up publication ms | CPU-s per publication, all processes | idle CPU-s per s | full mesh after s |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|'

interface Hosted { dir: string, url: string, addresses: string[] }

function host (args: string[], expect: number, into: Hosted[], profileDir?: string): Promise<ChildProcess> {
  const profile = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]
  const child = spawn(process.execPath, [...profile, join(import.meta.dirname, 'propagation-host.ts'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    let buffer = ''
    let seen = 0
    child.stdout!.on('data', (d: Buffer) => {
      buffer += d.toString()
      const lines = buffer.split('\n')
      buffer = lines.pop()!
      for (const l of lines) { into.push(JSON.parse(l) as Hosted); if (++seen === expect) resolve(child) }
    })
    child.once('exit', code => { reject(new Error(`propagation host exited with ${code}`)) })
  })
}

/** The daemons whose attestation the publisher has not heard, each with its own view (for a timeout's message). */
async function missing (daemons: Hosted[], heard: ReadonlySet<string>): Promise<string> {
  const views = await Promise.all(daemons.map(async (d, k) => {
    const s = await get(`${d.url}/status`).catch(() => undefined)
    return s === undefined || heard.has(s.peerId as string) ? undefined : `daemon ${k} (${s.networks[0].moduleCount as number} modules merged, ${s.peers as number} peers)`
  }))
  return views.filter(v => v !== undefined).join('; ') || 'none missing by now'
}

/** CPU seconds the processes have used (user + system, from /proc; undefined off Linux). */
function cpuSeconds (children: readonly ChildProcess[]): number | undefined {
  let ticks = 0
  for (const c of children) {
    try {
      // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
      const stat = readFileSync(`/proc/${c.pid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ticks += Number(fields[11]) + Number(fields[12])
    } catch { return undefined }
  }
  return ticks / 100 // USER_HZ is 100 on Linux
}

const get = async (url: string): Promise<any> => await (await fetch(url, { signal: AbortSignal.timeout(10_000) })).json() // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * `profileDir`: each host process writes a V8 CPU profile there when it stops (for finding what is slow).
 * `settleMs`: before publishing, wait (up to this long) for every daemon to hold all N−1 peers, so
 * the publications measure an established network rather than one still forming its connections.
 * `signalIdle`: send the host processes SIGUSR2 at the start and the end of the `idleMs` window;
 * `signalPublishing`: at the start of the first timed publication and after the last.
 */
export async function benchPropagationScale (options: { sizes: number[], processes: number, methods: string[], publications: number, profileDir?: string, idleMs?: number, settleMs?: number, signalIdle?: boolean, signalPublishing?: boolean }, log: (line: string) => void = console.log): Promise<string[]> {
  const rows: string[] = []
  for (const method of options.methods) {
    for (const n of options.sizes) {
      const net = await createTestnet({ sites: n, method })
      const hosted: Hosted[] = []
      const children: ChildProcess[] = []
      try {
        children.push(await host(['-', net.sites[0]!.dir], 1, hosted, options.profileDir))
        const bootstrap = hosted[0]!.addresses[0]!
        const rest = net.sites.slice(1).map(s => s.dir)
        const per = Math.ceil(rest.length / Math.max(1, options.processes - 1))
        const starting: Array<Promise<ChildProcess>> = []
        for (let i = 0; i < rest.length; i += per) starting.push(host([bootstrap, ...rest.slice(i, i + per)], rest.slice(i, i + per).length, hosted, options.profileDir))
        children.push(...await Promise.all(starting))
        const byDir = new Map(hosted.map(h => [h.dir, h]))
        const daemons = net.sites.map(s => byDir.get(s.dir)!)
        const deadline = Date.now() + 120_000
        const peerCounts = async (): Promise<number[]> => await Promise.all(daemons.map(async d => (await get(`${d.url}/status`)).peers as number))
        for (;;) {
          const peers = await peerCounts()
          if (peers.every(p => p >= Math.min(n - 1, 3))) break
          if (Date.now() > deadline) throw new Error(`the daemons did not connect within 120 s; peers per daemon: ${peers.join(' ')}`)
          await new Promise(r => setTimeout(r, 500))
        }
        let fullMesh = '–'
        if (options.settleMs !== undefined) {
          const from = Date.now()
          for (;;) {
            const peers = await peerCounts()
            if (peers.every(p => p >= n - 1)) { fullMesh = ((Date.now() - from) / 1000).toFixed(0); break }
            if (Date.now() - from > options.settleMs) { fullMesh = `not in ${(options.settleMs / 1000).toFixed(0)} (fewest peers ${Math.min(...peers)})`; break }
            await new Promise(r => setTimeout(r, 2000))
          }
        }
        await new Promise(r => setTimeout(r, 3000)) // meshes form on the gossipsub heartbeat
        // Publication 0 is a warm-up, timed apart: every daemon starts its compute threads on its
        // first merge, and N daemons doing that at once on 2 cores is not the network's time.
        const times: number[] = []
        let warmup = 0
        let publishingCpu = 0
        let idleCpu: number | undefined
        for (let i = 0; i <= options.publications; i++) {
          if (i === 1 && options.idleMs !== undefined) {
            // What the network costs with nothing to do (heartbeats, gossip, sync, pings), beside
            // what each publication costs: both in CPU seconds of the host processes.
            const before = cpuSeconds(children)
            // SIGUSR2 around the idle window: scripts/experiments/profile-on-signal.ts profiles it.
            if (options.signalIdle === true) for (const c of children) c.kill('SIGUSR2')
            await new Promise(r => setTimeout(r, options.idleMs))
            if (options.signalIdle === true) for (const c of children) c.kill('SIGUSR2')
            const after = cpuSeconds(children)
            if (before !== undefined && after !== undefined) idleCpu = (after - before) / (options.idleMs / 1000)
          }
          if (i === 1 && options.signalPublishing === true) for (const c of children) c.kill('SIGUSR2')
          const cpuBefore = cpuSeconds(children)
          const b = readModuleBundle(makeBundle(join(net.base, `p${i}`), i % 2 === 0 ? 'task-1' : 'task-2', `scale-${n}-${method}-${i}`))
          const publisher = daemons[i % n]!
          const token = readFileSync(join(net.sites[i % n]!.dir, 'api-token'), 'utf8').trim()
          const t0 = performance.now()
          const res = await fetch(`${publisher.url}/modules`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify({ task: b.meta.task, module: Buffer.from(b.moduleFile).toString('base64'), distilled: Buffer.from(b.distilledFile!).toString('base64'), samples: 64 }) })
          if (res.status !== 200) throw new Error(`publish failed: ${await res.text()}`)
          // A daemon attests after it merged, so the publisher hearing every daemon's attestation of
          // a state with the module is the end point. One light request per poll: polling every
          // daemon's /status loaded a 50-daemon machine more than the network did.
          for (;;) {
            const heard = ((await get(`${publisher.url}/attestations`)).attestations as Array<{ author: string, moduleCount: number }>).filter(a => a.moduleCount >= i + 1)
            if (heard.length >= n) break
            if (performance.now() - t0 > 180_000) throw new Error(`publication ${i} did not reach every daemon: ${await missing(daemons, new Set(heard.map(a => a.author)))}`)
            await new Promise(r => setTimeout(r, 50))
          }
          if (i === 0) warmup = performance.now() - t0
          else {
            times.push(performance.now() - t0)
            const cpuAfter = cpuSeconds(children)
            if (cpuBefore !== undefined && cpuAfter !== undefined) publishingCpu += cpuAfter - cpuBefore
          }
        }
        // The profiles are written before the hosts are stopped.
        if (options.signalPublishing === true) { for (const c of children) c.kill('SIGUSR2'); await new Promise(r => setTimeout(r, 3000)) }
        const s = statsOf(times)
        const p95 = percentile(times, 0.95)
        const zero = await get(`${daemons[0]!.url}/status`)
        // Refusals summed over every daemon: an ignored or rejected attestation is one a daemon
        // waits for until sync brings it, so any here explain a slow tail.
        const refused: Record<string, number> = {}
        for (const d of daemons) for (const [k, v] of Object.entries((await get(`${d.url}/status`)).networks[0].refusals as Record<string, number>)) refused[k] = (refused[k] ?? 0) + v
        const row = `| ${n} | ${children.length} | ${method} | ${options.publications} | ${s.median.toFixed(0)} | ${p95.toFixed(0)} | ${s.max.toFixed(0)} | ${zero.peers as number}, ${((zero.memory.rss as number) / 2 ** 20).toFixed(0)} | ${Object.entries(refused).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'} | ${warmup.toFixed(0)} | ${publishingCpu > 0 ? (publishingCpu / times.length).toFixed(1) : '–'} | ${idleCpu === undefined ? '–' : idleCpu.toFixed(2)} | ${fullMesh} |`
        console.error(`propagation ${n} ${method}: ${times.map(t => t.toFixed(0)).join(' ')}`)
        log(row)
        rows.push(row)
      } finally {
        for (const c of children) c.kill('SIGTERM')
        await Promise.all(children.map(async c => await new Promise(r => { if (c.exitCode !== null) r(null); else c.once('exit', r) })))
        net.cleanup()
      }
    }
  }
  return rows
}
