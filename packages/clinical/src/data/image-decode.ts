// PNG and JPEG files to pixels, with pure-JavaScript decoders (no native build at install time):
// pngjs and jpeg-js. The format is read from the file's first bytes, not its name.
import jpeg from 'jpeg-js'
import { PNG } from 'pngjs'
import { InvalidDatasetError } from '../errors.ts'

export interface DecodedImage {
  readonly width: number
  readonly height: number
  /** 1 when the file is grey (every pixel R = G = B), else 3. */
  readonly channels: number
  /** HWC uint8, `channels` per pixel. */
  readonly pixels: Uint8Array
}

/** Larger images than this are refused before decoding (a hostile or mistaken file). */
export const MAX_IMAGE_PIXELS = 50_000_000

const isPng = (b: Uint8Array): boolean => b.length > 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47
const isJpeg = (b: Uint8Array): boolean => b.length > 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff

export function isImageFile (bytes: Uint8Array): boolean {
  return isPng(bytes) || isJpeg(bytes)
}

/** Decodes a PNG or JPEG file; `path` names it in errors. */
export function decodeImage (bytes: Uint8Array, path: string): DecodedImage {
  let rgba: { width: number, height: number, data: Uint8Array }
  try {
    if (isPng(bytes)) {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
      rgba = { width: png.width, height: png.height, data: png.data }
    } else if (isJpeg(bytes)) {
      rgba = jpeg.decode(bytes, { useTArray: true, maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6, maxMemoryUsageInMB: 1024 })
    } else {
      throw new Error('not a PNG or JPEG file')
    }
  } catch (err) {
    throw new InvalidDatasetError(`${path}: unreadable image: ${(err as Error).message}`)
  }
  const { width, height, data } = rgba
  if (width < 1 || height < 1 || width * height > MAX_IMAGE_PIXELS) throw new InvalidDatasetError(`${path}: image of ${width}x${height} pixels is outside 1 to ${MAX_IMAGE_PIXELS} pixels`)
  const n = width * height
  let grey = true
  for (let i = 0; i < n && grey; i++) grey = data[i * 4] === data[i * 4 + 1] && data[i * 4] === data[i * 4 + 2]
  const channels = grey ? 1 : 3
  const pixels = new Uint8Array(n * channels)
  for (let i = 0; i < n; i++) for (let c = 0; c < channels; c++) pixels[i * channels + c] = data[i * 4 + c]!
  return { width, height, channels, pixels }
}
