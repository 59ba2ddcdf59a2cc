// The MedForge base model: a small CLIP-style vision transformer with Hugging Face
// CLIPVisionModelWithProjection parameter names and layouts, so LoRA adapters use the module paths
// PEFT uses for CLIP (`…encoder.layers.N.self_attn.q_proj`) and real CLIP weights load through
// the same code.
import { InvalidAdapterError } from '@medforge/merge-core'

export interface VitConfig {
  readonly imageSize: number
  readonly channels: number
  readonly patchSize: number
  readonly hidden: number
  readonly layers: number
  readonly heads: number
  readonly intermediate: number
  readonly projection: number
  readonly layerNormEps: number
}

export const VIT_ARCHITECTURE = 'medforge-vit-tiny/v1'

export const VIT_TINY: VitConfig = { imageSize: 28, channels: 3, patchSize: 7, hidden: 64, layers: 4, heads: 4, intermediate: 128, projection: 64, layerNormEps: 1e-5 }

/** CLIP's per-channel normalisation (grayscale images are replicated to three channels first). */
export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const

export const PEFT_PREFIX = 'base_model.model.'
export const HEAD_WEIGHT = `${PEFT_PREFIX}classifier.weight`
export const HEAD_BIAS = `${PEFT_PREFIX}classifier.bias`

export function patchCount (c: VitConfig): number {
  return (c.imageSize / c.patchSize) ** 2
}

export function layerPrefix (i: number): string {
  return `vision_model.encoder.layers.${i}`
}

/** Every base-model parameter: its HF name and shape, in a fixed order. */
export function parameterShapes (c: VitConfig): Array<[string, number[]]> {
  const h = c.hidden
  const out: Array<[string, number[]]> = [
    ['vision_model.embeddings.class_embedding', [h]],
    ['vision_model.embeddings.patch_embedding.weight', [h, c.channels, c.patchSize, c.patchSize]],
    ['vision_model.embeddings.position_embedding.weight', [patchCount(c) + 1, h]],
    ['vision_model.pre_layrnorm.weight', [h]],
    ['vision_model.pre_layrnorm.bias', [h]]
  ]
  for (let i = 0; i < c.layers; i++) {
    const p = layerPrefix(i)
    for (const proj of ['k_proj', 'v_proj', 'q_proj', 'out_proj']) out.push([`${p}.self_attn.${proj}.weight`, [h, h]], [`${p}.self_attn.${proj}.bias`, [h]])
    out.push([`${p}.layer_norm1.weight`, [h]], [`${p}.layer_norm1.bias`, [h]])
    out.push([`${p}.mlp.fc1.weight`, [c.intermediate, h]], [`${p}.mlp.fc1.bias`, [c.intermediate]])
    out.push([`${p}.mlp.fc2.weight`, [h, c.intermediate]], [`${p}.mlp.fc2.bias`, [h]])
    out.push([`${p}.layer_norm2.weight`, [h]], [`${p}.layer_norm2.bias`, [h]])
  }
  out.push(['vision_model.post_layernorm.weight', [h]], ['vision_model.post_layernorm.bias', [h]], ['visual_projection.weight', [c.projection, h]])
  return out
}

/** The PEFT layer names LoRA adapts for a target list (q_proj, v_proj, optionally visual_projection). */
export function loraLayers (c: VitConfig, targets: readonly string[]): Array<{ name: string, base: string, inFeatures: number, outFeatures: number }> {
  const out: Array<{ name: string, base: string, inFeatures: number, outFeatures: number }> = []
  for (const t of targets) {
    if (t !== 'q_proj' && t !== 'v_proj' && t !== 'visual_projection') throw new InvalidAdapterError('LoRA targets', `"${t}" is not supported (q_proj, v_proj, visual_projection)`)
  }
  for (let i = 0; i < c.layers; i++) {
    for (const t of ['q_proj', 'v_proj']) {
      if (targets.includes(t)) out.push({ name: `${PEFT_PREFIX}${layerPrefix(i)}.self_attn.${t}`, base: `${layerPrefix(i)}.self_attn.${t}`, inFeatures: c.hidden, outFeatures: c.hidden })
    }
  }
  if (targets.includes('visual_projection')) out.push({ name: `${PEFT_PREFIX}visual_projection`, base: 'visual_projection', inFeatures: c.hidden, outFeatures: c.projection })
  return out.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
}
