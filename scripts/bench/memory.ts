// Resident memory of a daemon process on the clinical network: idle, and at its peak while it
// folds three modules with MedForge-Fusion (deterministic ViT forward on their distilled sets).
import { rmSync } from 'node:fs'
import { encodeDistilledSet, encodeModuleFile } from '@medforge/merge-core'
import { VIT_ARCHITECTURE, distill, loadBaseWeights, loadSplit, loadTf, subset, trainLora } from '@medforge/clinical'
import { createLocalNetwork, spawnDaemon } from '@medforge/node'

export const MEMORY_HEADER = '| daemon | RSS MiB |\n|---|---|'

export async function benchMemory (log: (line: string) => void = console.log): Promise<string[]> {
  const weights = loadBaseWeights()
  const net = await createLocalNetwork({
    networkId: 'bench', name: 'Bench',
    sites: [{ name: 'Bench Hospital' }],
    baseModel: { architecture: VIT_ARCHITECTURE, weights: weights.cid },
    tasks: [{ id: 'pneumonia', modality: 'chest-xray', labels: ['normal', 'pneumonia'], metric: 'auc' }],
    lora: { targets: ['q_proj', 'v_proj'], rank: 4, alpha: 8 }, merge: { method: 'medforge-fusion' },
    quorum: 1, limits: { maxModuleBytes: 16 << 20, maxMessageBytes: 65536 }
  })
  const base = net.base
  // Three small but real modules with 20-image distilled sets.
  const tf = await loadTf('wasm')
  const bundles = []
  for (let i = 0; i < 3; i++) {
    const train = subset(loadSplit('pneumonia', 'train'), Array.from({ length: 64 }, (_, k) => 64 * i + k))
    const val = subset(loadSplit('pneumonia', 'val'), Array.from({ length: 16 }, (_, k) => k))
    const r = await trainLora(tf, weights, train, val, { classes: 2, rank: 4, alpha: 8, targets: ['q_proj', 'v_proj'], epochs: 1, seed: `mem-${i}` })
    const d = await distill(tf, weights, train, { task: 'pneumonia', classes: 2, imagesPerClass: 10, iterations: 20, seed: `mem-${i}` })
    bundles.push({ module: Buffer.from(encodeModuleFile(r.module)).toString('base64'), distilled: Buffer.from(encodeDistilledSet(d.set)).toString('base64') })
  }
  const daemon = await spawnDaemon(net.sites[0]!.dir, { extraArgs: ['--quiet'] })
  const rows: string[] = []
  try {
    await new Promise(r => setTimeout(r, 3000))
    let idle = 0
    for (let i = 0; i < 5; i++) { idle = Math.max(idle, (await daemon.get('/status')).memory.rss as number); await new Promise(r => setTimeout(r, 200)) }
    let peak = idle
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, (await daemon.get('/status')).memory.rss as number)
        await new Promise(r => setTimeout(r, 50))
      }
    })()
    const t0 = performance.now()
    for (const b of bundles) {
      const res = await daemon.post('/modules', { task: 'pneumonia', module: b.module, distilled: b.distilled, samples: 64 })
      if (res.status !== 200) throw new Error(JSON.stringify(res.body))
    }
    for (;;) {
      const st = (await daemon.get('/status')).networks[0]
      if (st.moduleCount === 3 && st.merging === false) break
      await new Promise(r => setTimeout(r, 100))
    }
    const mergeSeconds = (performance.now() - t0) / 1000
    sampling = false
    await sampler
    for (const row of [`| idle, joined to a ${VIT_ARCHITECTURE} network | ${(idle / 1048576).toFixed(0)} |`, `| peak while folding 3 modules with MedForge-Fusion (${mergeSeconds.toFixed(1)} s) | ${(peak / 1048576).toFixed(0)} |`]) {
      log(row)
      rows.push(row)
    }
  } finally {
    await daemon.stop()
    rmSync(base, { recursive: true, force: true })
  }
  return rows
}
