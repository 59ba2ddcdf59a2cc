// The daemon's API while it folds: three daemons on the clinical network (separate processes), one
// module each (real sizes, synthetic values), /status sampled on every daemon every 50 ms, idle
// first and then while MedForge-Fusion runs on the compute threads. Target: p99 < 250 ms.
import { VIT_ARCHITECTURE, loadBaseWeights, syntheticVitBundle } from '@medforge/clinical'
import { agreeOn, createLocalNetwork, spawnDaemon } from '@medforge/node'
import type { DaemonProcess } from '@medforge/node'

export const RESPONSIVENESS_HEADER = '| /status on 3 daemons | samples | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|'

const quantile = (xs: readonly number[], q: number): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN }

async function timedStatus (d: DaemonProcess): Promise<{ ms: number, merging: boolean }> {
  const t0 = performance.now()
  const st = await (await fetch(`${d.url}/status`, { signal: AbortSignal.timeout(30_000) })).json() as { networks: Array<{ merging: boolean }> }
  return { ms: performance.now() - t0, merging: st.networks[0]!.merging }
}

export async function benchResponsiveness (log: (line: string) => void = console.log): Promise<string[]> {
  const lora = { targets: ['q_proj', 'v_proj'], rank: 4, alpha: 8 }
  const tasks = [{ id: 'pneumonia', modality: 'chest-xray', labels: ['normal', 'pneumonia'], metric: 'auc' }, { id: 'breast', modality: 'ultrasound', labels: ['malignant', 'benign'], metric: 'auc' }]
  const net = await createLocalNetwork({
    networkId: 'bench-responsiveness', name: 'Bench', sites: [{ name: 'Hospital A' }, { name: 'Hospital B' }, { name: 'Clinic C' }],
    baseModel: { architecture: VIT_ARCHITECTURE, weights: loadBaseWeights().cid }, tasks, lora, merge: { method: 'medforge-fusion' },
    limits: { maxModuleBytes: 16 << 20, maxMessageBytes: 65536 }
  })
  const daemons: DaemonProcess[] = []
  try {
    for (const [i, s] of net.sites.entries()) daemons.push(await spawnDaemon(s.dir, { label: s.name, bootstrap: i === 0 ? [] : daemons[0]!.addresses, extraArgs: ['--quiet'] }))
    const sample = async (until: () => boolean, keep: (s: { ms: number, merging: boolean }) => boolean): Promise<number[]> => {
      const out: number[] = []
      while (!until()) {
        for (const s of await Promise.all(daemons.map(timedStatus))) if (keep(s)) out.push(s.ms)
        await new Promise(resolve => setTimeout(resolve, 50))
      }
      return out
    }
    const idleUntil = Date.now() + 3000
    const idle = await sample(() => Date.now() > idleUntil, () => true)
    let done = false
    const during = sample(() => done, s => s.merging)
    const t0 = performance.now()
    const siteTasks = ['pneumonia', 'pneumonia', 'breast']
    await Promise.all(daemons.map(async (d, i) => {
      const b = syntheticVitBundle(`bench-${i}`, siteTasks[i]!, { ...lora, classes: 2, imagesPerClass: 10 })
      const res = await d.post('/modules', { task: siteTasks[i], module: Buffer.from(b.moduleFile).toString('base64'), distilled: Buffer.from(b.distilledFile).toString('base64'), samples: 100 })
      if (res.status !== 200) throw new Error(JSON.stringify(res.body))
    }))
    await agreeOn(daemons, 3, 600_000, { attested: true })
    done = true
    const merging = await during
    log(`3 modules folded and attested on 3 daemons in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    const row = (what: string, xs: number[]): string => `| ${what} | ${xs.length} | ${quantile(xs, 0.5).toFixed(1)} | ${quantile(xs, 0.99).toFixed(1)} | ${Math.max(...xs).toFixed(1)} |`
    const rows = [row('idle', idle), row('during a Fusion merge', merging)]
    for (const r of rows) log(r)
    return rows
  } finally {
    await Promise.all(daemons.map(async d => await d.stop()))
    net.cleanup()
  }
}
