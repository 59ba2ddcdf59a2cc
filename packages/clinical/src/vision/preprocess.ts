// Images to model inputs: uint8 [n, side, side, channels] → float [n, 3, side, side], each channel
// normalised with CLIP's mean and std (a grey value is replicated to the three channels).
import type { ImageSet } from '../data/image-set.ts'
import { CLIP_MEAN, CLIP_STD } from './vit-config.ts'

export function toInputs (set: ImageSet): Float32Array {
  const px = set.side * set.side
  const ch = set.channels
  const out = new Float32Array(set.count * 3 * px)
  for (let s = 0; s < set.count; s++) {
    for (let c = 0; c < 3; c++) {
      const m = CLIP_MEAN[c]!
      const sd = CLIP_STD[c]!
      const from = ch === 1 ? 0 : c
      const base = (s * 3 + c) * px
      const src = s * px * ch
      for (let i = 0; i < px; i++) out[base + i] = (set.images[src + i * ch + from]! / 255 - m) / sd
    }
  }
  return out
}

/** Grayscale in [0, 1] ([n, px]) to normalised three-channel inputs. */
export function grayToInputs (gray: Float32Array, n: number, px: number): Float32Array {
  const out = new Float32Array(n * 3 * px)
  for (let s = 0; s < n; s++) {
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < px; i++) out[(s * 3 + c) * px + i] = (gray[s * px + i]! - CLIP_MEAN[c]!) / CLIP_STD[c]!
    }
  }
  return out
}
