// Any image to the square size the model expects: the centred square crop (no distortion of the
// anatomy), then an area average down (or a nearest pick up), channels kept.

/** HWC uint8 pixels [height, width, channels] → [side, side, channels]. */
export function cropResize (pixels: Uint8Array, width: number, height: number, channels: number, side: number): Uint8Array {
  const crop = Math.min(width, height)
  const x0 = Math.floor((width - crop) / 2)
  const y0 = Math.floor((height - crop) / 2)
  const out = new Uint8Array(side * side * channels)
  const scale = crop / side
  for (let y = 0; y < side; y++) {
    // The source rows and columns this output pixel covers (at least one).
    const ya = y0 + Math.floor(y * scale)
    const yb = Math.max(ya + 1, y0 + Math.floor((y + 1) * scale))
    for (let x = 0; x < side; x++) {
      const xa = x0 + Math.floor(x * scale)
      const xb = Math.max(xa + 1, x0 + Math.floor((x + 1) * scale))
      for (let c = 0; c < channels; c++) {
        let sum = 0
        for (let yy = ya; yy < yb; yy++) for (let xx = xa; xx < xb; xx++) sum += pixels[(yy * width + xx) * channels + c]!
        out[(y * side + x) * channels + c] = Math.round(sum / ((yb - ya) * (xb - xa)))
      }
    }
  }
  return out
}

/** HWC pixels converted between grey and RGB (ITU-R BT.601 luma for colour to grey). */
export function convertChannels (pixels: Uint8Array, count: number, from: number, to: number): Uint8Array {
  if (from === to) return pixels
  const out = new Uint8Array(count * to)
  for (let i = 0; i < count; i++) {
    if (to === 1) {
      out[i] = Math.round(0.299 * pixels[i * from]! + 0.587 * pixels[i * from + 1]! + 0.114 * pixels[i * from + 2]!)
    } else {
      const v = pixels[i * from]!
      out[i * 3] = v; out[i * 3 + 1] = v; out[i * 3 + 2] = v
    }
  }
  return out
}
