// Pretrains the MedForge base model on FractalDB-style synthetic fractals (no medical data at all)
// and writes packages/clinical/weights/medforge-vit-tiny.safetensors with its CID (about 50 minutes
// on one core: 20,000 renders, 30 epochs).
//   npm run pretrain [-- --epochs N --backend wasm|cpu --out FILE]
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { cidOfBytes } from '@medforge/merge-core'
import { BASE_WEIGHTS_FILE, VIT_TINY, encodeVitWeights, loadTf, pretrainVit } from '@medforge/clinical'
import type { BackendName } from '@medforge/clinical'

const { values } = parseArgs({ options: { epochs: { type: 'string' }, backend: { type: 'string' }, out: { type: 'string' }, categories: { type: 'string' }, instances: { type: 'string' } } })
export const PRETRAIN_RECIPE = { seed: 'medforge-base/v2', categories: Number(values.categories ?? 200), instances: Number(values.instances ?? 100), epochs: Number(values.epochs ?? 30), batchSize: 256, learningRate: 1e-3, weightDecay: 0.05, schedule: 'one-cycle' as const }
const backend = (values.backend ?? 'wasm') as BackendName
const tf = await loadTf(backend)
console.log(`pretraining ${JSON.stringify(VIT_TINY)} on ${PRETRAIN_RECIPE.categories} fractal categories x ${PRETRAIN_RECIPE.instances} (${backend})`)
const t0 = performance.now()
const weights = await pretrainVit(tf, {
  config: VIT_TINY,
  data: { categories: PRETRAIN_RECIPE.categories, instances: PRETRAIN_RECIPE.instances, side: 28, seed: PRETRAIN_RECIPE.seed },
  epochs: PRETRAIN_RECIPE.epochs,
  batchSize: PRETRAIN_RECIPE.batchSize,
  learningRate: PRETRAIN_RECIPE.learningRate,
  weightDecay: PRETRAIN_RECIPE.weightDecay,
  schedule: PRETRAIN_RECIPE.schedule,
  seed: PRETRAIN_RECIPE.seed,
  onEpoch: (e, loss, acc, ms) => console.log(`epoch ${String(e).padStart(2)}  loss ${loss.toFixed(3)}  train accuracy ${(100 * acc).toFixed(1)}%  ${(ms / 1000).toFixed(1)} s`)
})
const bytes = encodeVitWeights(weights, { 'medforge.pretraining': JSON.stringify({ ...PRETRAIN_RECIPE, data: 'FractalDB-style IFS renders (formula-driven, no dataset)', backend }) })
const out = values.out ?? BASE_WEIGHTS_FILE
writeFileSync(out, bytes)
console.log(`wrote ${out}: ${bytes.length} bytes, CID ${cidOfBytes(bytes)}, ${((performance.now() - t0) / 1000).toFixed(0)} s`)
