// Small helpers over libp2p 3 message streams: send frames honouring back-pressure, and read the
// single length-prefixed request a stream protocol opens with, bounded before it is read.
import type { Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { Uint8ArrayList } from 'uint8arraylist'

export async function sendFrames (stream: Stream, frames: Iterable<Uint8Array | Uint8ArrayList>, signal: AbortSignal): Promise<void> {
  for (const frame of frames) {
    signal.throwIfAborted()
    if (!stream.send(frame)) await stream.onDrain({ signal })
  }
}

/** Reads one frame of at most `maxBytes`; a longer or truncated frame throws before allocation. */
export async function readRequest (stream: Stream, maxBytes: number, signal: AbortSignal): Promise<Uint8Array> {
  const lp = lpStream(stream, { maxDataLength: maxBytes })
  return (await lp.read({ signal })).subarray()
}
