// The daemon's view of a network's base model: the clinical ViT's shape policy and distilled sets.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { encodeDistilledSet, newLoraConfig } from '@medforge/merge-core'
import { BASE_MODEL_CID, HEAD_BIAS, HEAD_WEIGHT, VIT_ARCHITECTURE, loraLayers, loadBaseWeights } from '@medforge/clinical'
import type { LoraModule, LoraPair } from '@medforge/merge-core'
import { genesisManifestBody, newIdentity } from '@medforge/protocol'
import type { ManifestBody } from '@medforge/protocol'
import { modelFor } from '../src/daemon/network-model.ts'
import { InvalidModuleError, NotJoinedError } from '../src/errors.ts'

async function manifest (weights = BASE_MODEL_CID): Promise<ManifestBody> {
  const id = await newIdentity()
  return genesisManifestBody({
    networkId: 'clinical', name: 'Clinical',
    baseModel: { architecture: VIT_ARCHITECTURE, weights },
    tasks: [{ id: 'pneumonia', modality: 'chest-xray', labels: ['normal', 'pneumonia'], metric: 'auc' }],
    lora: { targets: ['q_proj', 'v_proj'], rank: 4, alpha: 8 }, merge: { method: 'medforge-fusion' },
    members: [{ peerId: id.peerId, name: 'A', roles: ['contributor'] }], quorum: 1,
    limits: { maxModuleBytes: 1 << 22, maxMessageBytes: 16384 }, createdAt: 1
  })
}

function vitModule (rank = 4, classes = 2): LoraModule {
  const c = loadBaseWeights().weights.config
  const layers = new Map<string, LoraPair>()
  for (const l of loraLayers(c, ['q_proj', 'v_proj'])) layers.set(l.name, { A: { shape: [rank, l.inFeatures], data: new Float32Array(rank * l.inFeatures) }, B: { shape: [l.outFeatures, rank], data: new Float32Array(rank * l.outFeatures) } })
  return {
    config: newLoraConfig({ baseModel: `${VIT_ARCHITECTURE}@${BASE_MODEL_CID}`, r: rank, loraAlpha: 2 * rank, targetModules: ['q_proj', 'v_proj'], modulesToSave: ['classifier'] }),
    layers,
    heads: new Map([[HEAD_BIAS, { shape: [classes], data: new Float32Array(classes) }], [HEAD_WEIGHT, { shape: [classes, c.projection], data: new Float32Array(classes * c.projection) }]])
  }
}

describe('network model: medforge-vit-tiny/v1', () => {
  it('accepts modules that follow the policy and refuses the rest, naming what is wrong', async () => {
    const body = await manifest()
    const model = modelFor(body)
    const task = body.tasks[0]!
    model.checkModule(vitModule(), task, 'm')
    assert.throws(() => model.checkModule(vitModule(2), task, 'm'), (e: Error) => e instanceof InvalidModuleError && /lora_A \[2, 64\]/.test(e.message))
    assert.throws(() => model.checkModule(vitModule(4, 3), task, 'm'), /head is \[3, 64\]/)
    const missing = vitModule()
    ;(missing.layers as Map<string, LoraPair>).delete([...missing.layers.keys()][0]!)
    assert.throws(() => model.checkModule(missing, task, 'm'), /has no LoRA layer base_model\.model\.vision_model\.encoder\.layers\.0/)
  })

  it('reads distilled sets of the model\'s input shape only', async () => {
    const body = await manifest()
    const model = modelFor(body)
    const ok = encodeDistilledSet({ task: 'pneumonia', inputs: { shape: [2, 3, 28, 28], data: new Float32Array(2 * 3 * 784) }, labels: Int32Array.of(0, 1) })
    assert.equal((model.decodeDistilled(ok, body.tasks[0]!, 'd').context as { labels: Int32Array }).labels.length, 2)
    const wrong = encodeDistilledSet({ task: 'pneumonia', inputs: { shape: [2, 8], data: new Float32Array(16) }, labels: Int32Array.of(0, 1) })
    assert.throws(() => model.decodeDistilled(wrong, body.tasks[0]!, 'd'), /the model takes \[3, 28, 28\]/)
  })

  it('takes input statistics for exactly the network\'s LoRA layers, each [in, in]', async () => {
    const body = await manifest()
    const model = modelFor(body)
    const layers = loraLayers(loadBaseWeights().weights.config, ['q_proj', 'v_proj'])
    const identity = (n: number) => ({ shape: [n, n], data: Float32Array.from({ length: n * n }, (_, k) => k % (n + 1) === 0 ? 1 : 0) })
    const set = { task: 'pneumonia', inputs: { shape: [2, 3, 28, 28], data: new Float32Array(2 * 3 * 784) }, labels: Int32Array.of(0, 1) }
    const all = new Map(layers.map(l => [l.name, identity(l.inFeatures)]))
    assert.equal(model.decodeDistilled(encodeDistilledSet({ ...set, inputGrams: all }), body.tasks[0]!, 'd').inputGrams?.size, layers.length)
    const missing = new Map([...all].slice(1))
    assert.throws(() => model.decodeDistilled(encodeDistilledSet({ ...set, inputGrams: missing }), body.tasks[0]!, 'd'), (e: unknown) => e instanceof InvalidModuleError && e.message.includes(`none for ${layers[0]!.name}`))
    const extra = new Map([...all, ['base_model.model.visual_projection', identity(64)]])
    assert.throws(() => model.decodeDistilled(encodeDistilledSet({ ...set, inputGrams: extra }), body.tasks[0]!, 'd'), /not one of the network's LoRA layers/)
    const small = new Map([...all, [layers[0]!.name, identity(8)]])
    assert.throws(() => model.decodeDistilled(encodeDistilledSet({ ...set, inputGrams: small }), body.tasks[0]!, 'd'), /are \[8, 8\], the layer takes 64 inputs/)
  })

  it('refuses a manifest naming other weights', async () => {
    const other = await manifest('bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku')
    assert.throws(() => modelFor(other), NotJoinedError)
  })
})
