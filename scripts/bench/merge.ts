// Merge throughput: the data-free methods and MedForge-Fusion's fold step (a·M + b·L on every
// factor) on CLIP ViT-B/16-sized LoRA modules, next to a sustained copy of the same number of
// bytes between preallocated buffers (the physical limit), timed interleaved (measure.ts). The
// merges are timed up to their composite; its state root, a sha256 with its own limit, is timed
// against that limit in state-root.ts.
import { combine, mergeComposite, moduleCid, newLoraConfig } from '@medforge/merge-core'
import type { LoraModule, LoraPair, MergeInput, MergeMethod } from '@medforge/merge-core'
import { compare, copyBaseline, formatStats } from './measure.ts'
import type { Stats } from './measure.ts'

// CLIP ViT-B/16 vision tower: 12 layers, width 768; LoRA on q_proj and v_proj.
export function clipModule (rank: number, seed: number): LoraModule {
  let state = seed * 2654435761 >>> 0
  const fill = (n: number): Float32Array => {
    const a = new Float32Array(n)
    for (let i = 0; i < n; i++) { state = (Math.imul(state, 1664525) + 1013904223) >>> 0; a[i] = (state / 4294967296 - 0.5) * 0.02 }
    return a
  }
  const layers = new Map<string, LoraPair>()
  for (let l = 0; l < 12; l++) {
    for (const proj of ['q_proj', 'v_proj']) {
      layers.set(`base_model.model.vision_model.encoder.layers.${l}.self_attn.${proj}`, {
        A: { shape: [rank, 768], data: fill(rank * 768) },
        B: { shape: [768, rank], data: fill(768 * rank) }
      })
    }
  }
  return { config: newLoraConfig({ baseModel: 'openai/clip-vit-base-patch16', r: rank, loraAlpha: 2 * rank, targetModules: ['q_proj', 'v_proj'] }), layers, heads: new Map() }
}

export function bytesOf (m: LoraModule): number {
  let n = 0
  for (const { A, B } of m.layers.values()) n += A.data.byteLength + B.data.byteLength
  return n
}

export const MERGE_HEADER = '| module | params/module | modules | method | merge ms (to the composite), median [min–max] | merge GB/s | copy GB/s (sustained, preallocated) | merge / copy, median [min–max] |\n|---|---|---|---|---|---|---|---|'

export interface MergeRowJson { module: string, params: number, modules: number, method: string, mergeSeconds: Stats, copySeconds: Stats, ratio: Stats, bytes: number }

export async function benchMerge (quick: boolean, log: (line: string) => void = console.log, json: MergeRowJson[] = []): Promise<string[]> {
  const methods: MergeMethod[] = [{ name: 'linear' }, { name: 'task-arithmetic' }, { name: 'ties', density: 0.2 }, { name: 'dare', density: 0.5 }]
  const sizes = quick ? [{ rank: 16, label: 'ViT-B/16 q+v r=16' }] : [{ rank: 16, label: 'ViT-B/16 q+v r=16' }, { rank: 160, label: '10x (r=160)' }]
  const counts = quick ? [2, 8] : [2, 8, 32]
  const rows: string[] = []
  // Each row: the merge and a sustained copy of the same input bytes, interleaved (measure.ts).
  const emit = async (label: string, params: number, n: number, method: string, merge: () => unknown, bytes: number): Promise<void> => {
    const p = await compare(merge, copyBaseline(bytes), { rounds: quick ? 5 : 7 })
    const row = `| ${label} | ${params.toLocaleString('en-US')} | ${n} | ${method} | ${formatStats(p.subject, 1e3, 1)} | ${(bytes / p.subject.median / 1e9).toFixed(2)} | ${(bytes / p.baseline.median / 1e9).toFixed(2)} | ${formatStats(p.ratio, 100, 0)}% |`
    log(row)
    rows.push(row)
    json.push({ module: label, params, modules: n, method, mergeSeconds: p.subject, copySeconds: p.baseline, ratio: p.ratio, bytes })
  }
  for (const size of sizes) {
    // MedForge-Fusion's application: one fold step reads M and L and writes a·M + b·L.
    const pair = [clipModule(size.rank, 101), clipModule(size.rank, 102)]
    const pairBytes = pair.reduce((s, m) => s + bytesOf(m), 0)
    await emit(size.label, bytesOf(pair[0]!) / 4, 2, 'medforge-fusion step (a·M + b·L)', () => combine(pair[0]!, pair[1]!, 0.7, 0.4), pairBytes)
    for (const n of counts) {
      if (size.rank > 16 && n > 8) continue // 32 x 24 MB adds minutes; 2 and 8 show the trend
      const modules = Array.from({ length: n }, (_, i) => clipModule(size.rank, i + 1))
      // CIDs are known and verified before a daemon merges, as here; hashing them is not part of merging.
      const inputs: MergeInput[] = modules.map(module => ({ module, height: 0, cid: moduleCid(module) }))
      const bytes = modules.reduce((s, m) => s + bytesOf(m), 0)
      for (const method of methods) await emit(size.label, bytesOf(modules[0]!) / 4, n, method.name, async () => await mergeComposite(inputs, method), bytes)
    }
  }
  return rows
}
