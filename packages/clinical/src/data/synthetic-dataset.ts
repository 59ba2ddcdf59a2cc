// Generated datasets with a learnable signal, for tests and the testnet's late-joining site: the
// repository has no colour medical data, so these stand in for a site's own files. Each class is
// a blob of its own hue and position on a noisy background; sizes vary when asked.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import jpeg from 'jpeg-js'
import { PNG } from 'pngjs'
import { Xoshiro128 } from '@medforge/merge-core'
import { encodeNpz } from './npz-writer.ts'

const HUES: ReadonlyArray<readonly [number, number, number]> = [[220, 60, 60], [60, 200, 80], [70, 90, 230], [230, 200, 50], [200, 80, 220], [60, 210, 210]]

/** One RGB image (HWC) of class `label`: a coloured disc, placed by class, plus noise. */
export function syntheticImage (label: number, width: number, height: number, rng: Xoshiro128): Uint8Array {
  const hue = HUES[label % HUES.length]!
  const angle = (2 * Math.PI * label) / 5 + (rng.uniform() - 0.5) * 0.6
  const cx = width * (0.5 + 0.2 * Math.cos(angle))
  const cy = height * (0.5 + 0.2 * Math.sin(angle))
  const r = Math.min(width, height) * (0.18 + 0.06 * rng.uniform())
  const out = new Uint8Array(width * height * 3)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inside = (x - cx) ** 2 + (y - cy) ** 2 < r * r
      for (let c = 0; c < 3; c++) {
        const v = (inside ? hue[c]! : 90) + (rng.uniform() - 0.5) * 90
        out[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)))
      }
    }
  }
  return out
}

/** A MedMNIST-format colour .npz: (n, side, side, 3) images, (n, 1) labels, train/val/test splits. */
export function syntheticColourNpz (options: { classes: number, counts: { train: number, val: number, test: number }, side?: number, seed?: string }): Uint8Array {
  const side = options.side ?? 28
  const rng = Xoshiro128.fromString(`medforge-synthetic-npz/v1|${options.seed ?? 'synthetic'}`)
  const arrays = new Map<string, { dtype: 'u1', shape: number[], data: Uint8Array }>()
  for (const [split, n] of Object.entries(options.counts)) {
    const images = new Uint8Array(n * side * side * 3)
    const labels = new Uint8Array(n)
    for (let i = 0; i < n; i++) {
      labels[i] = i % options.classes
      images.set(syntheticImage(labels[i]!, side, side, rng), i * side * side * 3)
    }
    arrays.set(`${split}_images`, { dtype: 'u1', shape: [n, side, side, 3], data: images })
    arrays.set(`${split}_labels`, { dtype: 'u1', shape: [n, 1], data: labels })
  }
  return encodeNpz(arrays)
}

/**
 * An image folder: `dir/<class>/NNN.png|jpg`, `perClass` images per class, sizes between 20 and
 * 90 pixels a side (not square), every other file a JPEG.
 */
export function writeSyntheticImageFolder (dir: string, options: { classes: readonly string[], perClass: number, seed?: string }): void {
  const rng = Xoshiro128.fromString(`medforge-synthetic-folder/v1|${options.seed ?? 'synthetic'}`)
  options.classes.forEach((name, label) => {
    mkdirSync(join(dir, name), { recursive: true })
    for (let i = 0; i < options.perClass; i++) {
      const width = 20 + (rng.nextU32() % 70)
      const height = 20 + (rng.nextU32() % 70)
      const rgb = syntheticImage(label, width, height, rng)
      const rgba = new Uint8Array(width * height * 4)
      for (let p = 0; p < width * height; p++) { rgba.set(rgb.subarray(p * 3, p * 3 + 3), p * 4); rgba[p * 4 + 3] = 255 }
      if (i % 2 === 0) {
        const png = new PNG({ width, height })
        png.data = Buffer.from(rgba)
        writeFileSync(join(dir, name, `${String(i).padStart(3, '0')}.png`), PNG.sync.write(png))
      } else {
        writeFileSync(join(dir, name, `${String(i).padStart(3, '0')}.jpg`), jpeg.encode({ data: rgba, width, height }, 90).data)
      }
    }
  })
}
