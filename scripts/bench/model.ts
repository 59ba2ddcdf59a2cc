// The model's costs: one MedForge-Fusion step (40 loss evaluations) with the consensus forward
// pass and, for comparison, with TensorFlow.js on cpu and wasm; and LoRA training throughput.
import { canonicalMethod, canonicalOrder, fusionStep, loraScaling, Xoshiro128, newLoraConfig, detLog } from '@medforge/merge-core'
import { VitDet, loadBaseWeights, loadSplit, loadTf, subset, trainLora, vitEvaluator, loraLayers, HEAD_BIAS, HEAD_WEIGHT, VIT_ARCHITECTURE, createTfVit, headLogits, moduleToTensors } from '@medforge/clinical'
import type { CandidateEvaluator, LoraModule, LoraPair, MergeInput } from '@medforge/merge-core'
import type { BackendName, VitContext } from '@medforge/clinical'

export const SEARCH_HEADER = '| loss computed by | consensus-safe | step s | loss evaluations | forward share |\n|---|---|---|---|---|'
export const TRAINING_HEADER = '| backend | images | epoch s | samples/s |\n|---|---|---|---|'

function seededModule (seed: string, cid: string): LoraModule {
  const c = loadBaseWeights().weights.config
  const rng = Xoshiro128.fromString(seed)
  const fill = (n: number, scale: number): Float32Array => Float32Array.from({ length: n }, () => (rng.nextU32() / 4294967296 - 0.5) * scale)
  const layers = new Map<string, LoraPair>()
  for (const l of loraLayers(c, ['q_proj', 'v_proj'])) layers.set(l.name, { A: { shape: [4, l.inFeatures], data: fill(4 * l.inFeatures, 0.3) }, B: { shape: [l.outFeatures, 4], data: fill(4 * l.outFeatures, 0.3) } })
  return {
    config: newLoraConfig({ baseModel: `${VIT_ARCHITECTURE}@${cid}`, r: 4, loraAlpha: 8, targetModules: ['q_proj', 'v_proj'], modulesToSave: ['classifier'] }),
    layers,
    heads: new Map([[HEAD_BIAS, { shape: [2], data: fill(2, 0.2) }], [HEAD_WEIGHT, { shape: [2, c.projection], data: fill(2 * c.projection, 1) }]])
  }
}

/** A TensorFlow.js loss with the evaluator interface: fast, but not bit-identical across machines. */
function tfEvaluator (tf: Awaited<ReturnType<typeof loadTf>>): CandidateEvaluator<VitContext> & { forwardMs: number } {
  const base = loadBaseWeights()
  const vit = createTfVit(tf, base.weights)
  const c = base.weights.config
  const out = {
    id: `tf-${tf.getBackend()}`,
    forwardMs: 0,
    loss (candidate: LoraModule, contributor: MergeInput<VitContext>) {
      const t0 = performance.now()
      const { lora } = moduleToTensors(tf, candidate)
      const { head } = moduleToTensors(tf, contributor.module)
      const ctx = contributor.context!
      const n = ctx.labels.length
      const probs = tf.tidy(() => tf.softmax(headLogits(tf, vit.embed(tf.tensor(ctx.inputs, [n, c.channels, c.imageSize, c.imageSize]), lora, loraScaling(candidate.config)), head!.W, head!.b))).dataSync()
      for (const t of lora.values()) { t.A.dispose(); t.B.dispose() }
      head!.W.dispose(); head!.b.dispose()
      out.forwardMs += performance.now() - t0
      let sum = 0
      for (let i = 0; i < n; i++) sum -= detLog(Math.max(probs[i * 2 + ctx.labels[i]!]!, 1e-300))
      return sum / n
    }
  }
  return out
}

export async function benchSearch (log: (line: string) => void = console.log): Promise<string[]> {
  const base = loadBaseWeights()
  const rows: string[] = []
  // Three contributors with 20 distilled images each (10 per class), as the testnet's sites have.
  const images = subset(loadSplit('pneumonia', 'test'), Array.from({ length: 60 }, (_, i) => i))
  const { toInputs } = await import('../../packages/clinical/src/index.ts')
  const all = toInputs(images)
  const per = 3 * 28 * 28
  const inputs: MergeInput<VitContext>[] = [0, 1, 2].map(i => ({
    module: seededModule(`bench-${i}`, base.cid), height: i + 1, task: i === 2 ? 'breast' : 'pneumonia',
    context: { inputs: all.slice(i * 20 * per, (i + 1) * 20 * per), labels: images.labels.slice(i * 20, (i + 1) * 20) }
  }))
  const time = async (evaluator: CandidateEvaluator<VitContext>, reset: () => void = () => {}): Promise<{ seconds: number, evaluations: number }> => {
    const method = canonicalMethod({ name: 'medforge-fusion' }, evaluator.id)
    if (method.name !== 'medforge-fusion') throw new Error('unreachable')
    const ordered = canonicalOrder(inputs)
    let state = await fusionStep(undefined, ordered[0]!, method, evaluator)
    state = await fusionStep(state, ordered[1]!, method, evaluator)
    reset()
    const t0 = performance.now()
    const next = await fusionStep(state, ordered[2]!, method, evaluator)
    return { seconds: (performance.now() - t0) / 1000, evaluations: next.steps.at(-1)!.evaluations }
  }
  // The consensus path, with the time inside the forward pass measured.
  const det = vitEvaluator(base)
  let forwardMs = 0
  const origEmbed = VitDet.prototype.embed
  VitDet.prototype.embed = function (this: VitDet, ...args: Parameters<VitDet['embed']>) {
    const t0 = performance.now()
    try { return origEmbed.apply(this, args) } finally { forwardMs += performance.now() - t0 }
  }
  try {
    await time(det) // warm-up (and the cached token embeddings of the distilled sets)
    const r2 = await time(det, () => { forwardMs = 0 })
    const row = `| deterministic JS forward (VitDet) | yes | ${r2.seconds.toFixed(2)} | ${r2.evaluations} | ${(Math.min(1, forwardMs / 1000 / r2.seconds) * 100).toFixed(0)}% |`
    log(row)
    rows.push(row)
  } finally {
    VitDet.prototype.embed = origEmbed
  }
  for (const backend of ['cpu', 'wasm'] as BackendName[]) {
    const tf = await loadTf(backend)
    const ev = tfEvaluator(tf)
    await time(ev)
    const r = await time(ev, () => { ev.forwardMs = 0 })
    const row = `| TensorFlow.js ${backend} | no | ${r.seconds.toFixed(2)} | ${r.evaluations} | ${(Math.min(1, ev.forwardMs / 1000 / r.seconds) * 100).toFixed(0)}% |`
    log(row)
    rows.push(row)
  }
  return rows
}

export async function benchTraining (quick: boolean, log: (line: string) => void = console.log): Promise<string[]> {
  const base = loadBaseWeights()
  const rows: string[] = []
  const train = subset(loadSplit('pneumonia', 'train'), Array.from({ length: quick ? 128 : 512 }, (_, i) => i))
  const val = subset(loadSplit('pneumonia', 'val'), Array.from({ length: 32 }, (_, i) => i))
  for (const backend of ['cpu', 'wasm'] as BackendName[]) {
    const tf = await loadTf(backend)
    let ms = 0
    await trainLora(tf, base, train, val, { classes: 2, rank: 4, alpha: 8, targets: ['q_proj', 'v_proj'], epochs: 1, seed: 'bench', onEpoch: e => { ms = e.ms } })
    // The epoch time includes the validation pass over 32 images: negligible next to training.
    const row = `| ${backend} | ${train.count} | ${(ms / 1000).toFixed(1)} | ${(train.count / (ms / 1000)).toFixed(0)} |`
    log(row)
    rows.push(row)
  }
  return rows
}

