// Synthetic modules for the clinical model: the right shapes and a distilled set of random images,
// drawn from a seed. They cost a MedForge-Fusion fold exactly what trained modules cost (the
// deterministic ViT forward on every distilled image), without training anything: for tests and
// benchmarks of the merge and the network, never for clinical numbers.
import { HEAD_BIAS, HEAD_WEIGHT, VIT_ARCHITECTURE, loraLayers } from './vit-config.ts'
import { loadBaseWeights } from './vit-weights.ts'
import { Xoshiro128, encodeDistilledSet, encodeModuleFile, newLoraConfig } from '@medforge/merge-core'
import type { LoraModule, LoraPair } from '@medforge/merge-core'

export interface VitBundle { readonly moduleFile: Uint8Array, readonly distilledFile: Uint8Array }

export function syntheticVitBundle (seed: string, task: string, options: { rank: number, alpha: number, targets: readonly string[], classes: number, imagesPerClass: number }): VitBundle {
  const base = loadBaseWeights()
  const c = base.weights.config
  const rng = Xoshiro128.fromString(seed)
  const normal = (n: number, scale: number): Float32Array => Float32Array.from({ length: n }, () => (rng.uniform() * 2 - 1) * scale)
  const layers = new Map<string, LoraPair>()
  for (const l of loraLayers(c, options.targets)) {
    layers.set(l.name, {
      A: { shape: [options.rank, l.inFeatures], data: normal(options.rank * l.inFeatures, 0.05) },
      B: { shape: [l.outFeatures, options.rank], data: normal(l.outFeatures * options.rank, 0.05) }
    })
  }
  const heads = new Map([
    [HEAD_WEIGHT, { shape: [options.classes, c.projection], data: normal(options.classes * c.projection, 0.1) }],
    [HEAD_BIAS, { shape: [options.classes], data: normal(options.classes, 0.1) }]
  ])
  const config = newLoraConfig({ baseModel: `${VIT_ARCHITECTURE}@${base.cid}`, r: options.rank, loraAlpha: options.alpha, targetModules: [...options.targets], modulesToSave: ['classifier'] })
  const module: LoraModule = { config, layers, heads }
  const n = options.classes * options.imagesPerClass
  const pixels = c.channels * c.imageSize * c.imageSize
  const distilled = {
    task,
    inputs: { shape: [n, c.channels, c.imageSize, c.imageSize], data: normal(n * pixels, 1) },
    labels: Int32Array.from({ length: n }, (_, i) => i % options.classes)
  }
  return { moduleFile: encodeModuleFile(module), distilledFile: encodeDistilledSet(distilled) }
}
