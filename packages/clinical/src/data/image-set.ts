// A set of labelled images as the pipeline holds them: uint8, square, row-major, channels
// interleaved (n × side × side × channels, MedMNIST's layout), labels as class indices.

export interface ImageSet {
  readonly images: Uint8Array
  readonly labels: Int32Array
  readonly count: number
  readonly side: number
  /** 1 (grey) or 3 (RGB). */
  readonly channels: number
}

/** Selects rows of an image set. */
export function subset (set: ImageSet, indices: readonly number[]): ImageSet {
  const per = set.side * set.side * set.channels
  const images = new Uint8Array(indices.length * per)
  const labels = new Int32Array(indices.length)
  indices.forEach((idx, i) => {
    images.set(set.images.subarray(idx * per, (idx + 1) * per), i * per)
    labels[i] = set.labels[idx]!
  })
  return { images, labels, count: indices.length, side: set.side, channels: set.channels }
}

export function classCounts (set: ImageSet, classes: number): number[] {
  const counts = new Array<number>(classes).fill(0)
  for (const l of set.labels) counts[l]!++
  return counts
}
