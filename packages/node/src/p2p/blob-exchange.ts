// The blob protocol (/medforge/blob/1.0.0): one request per stream, the server answers with a
// header and the bytes in chunks; the client verifies the hash before anything is stored.
import type { Libp2p, PeerId, Startable } from '@libp2p/interface'
import type { Registrar } from '@libp2p/interface-internal'
import { BLOB_PROTOCOL, DEFAULT_CHUNK_BYTES, blobResponseFramesFrom, decodeBlobRequest, encodeBlobRequest, encodeBlobResponseHeader, readBlobResponse } from '@medforge/protocol'
import type { BlobStore } from '../store/blob-store.ts'
import { readRequest, sendFrames } from './stream-io.ts'

export interface BlobServiceInit {
  readonly blobs: BlobStore
  readonly maxBytes: number
  /** Per-stream time limit: a peer that stops reading is dropped. */
  readonly timeoutMs?: number
  readonly onServed?: (cid: string, bytes: number) => void
  /**
   * Who may download: the daemon serves members of its networks only, whatever the connection
   * gater let in (membersOnly off, an outbound dial to an address without /p2p/). Absent: anyone.
   */
  readonly isAllowed?: (peerId: string) => boolean
}

export interface ServiceComponents { readonly registrar: Registrar }

/** The blob protocol's server as a libp2p service: registered on start, removed on stop. */
export function blobService (init: BlobServiceInit): (components: ServiceComponents) => Startable {
  return ({ registrar }) => ({
    async start () { await serveBlobs(registrar, init) },
    async stop () { await registrar.unhandle(BLOB_PROTOCOL) }
  })
}

async function serveBlobs (registrar: Registrar, options: BlobServiceInit): Promise<void> {
  const { blobs } = options
  await registrar.handle(BLOB_PROTOCOL, async (stream, connection) => {
    const signal = AbortSignal.timeout(options.timeoutMs ?? 60_000)
    try {
      const request = decodeBlobRequest(await readRequest(stream, 1024, signal))
      if (options.isAllowed !== undefined && !options.isAllowed(connection.remotePeer.toString())) {
        await sendFrames(stream, [encodeBlobResponseHeader({ status: 'error', size: 0, message: 'not a member of the network' })], signal)
        await stream.close({ signal })
        return
      }
      // Hashed in chunks the first time (a corrupt copy is quarantined and answered as missing).
      const streamed = await blobs.verify(request.cid) ? blobs.verifiedChunks(request.cid, DEFAULT_CHUNK_BYTES) : undefined
      if (streamed === undefined) {
        await sendFrames(stream, [encodeBlobResponseHeader({ status: 'not_found', size: 0, message: '' })], signal)
      } else if (streamed.size > options.maxBytes) {
        await sendFrames(stream, [encodeBlobResponseHeader({ status: 'too_large', size: streamed.size, message: '' })], signal)
      } else {
        await sendFrames(stream, blobResponseFramesFrom(streamed.size, streamed.chunks), signal)
        options.onServed?.(request.cid, streamed.size)
      }
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
    }
  }, { maxInboundStreams: 32 })
}

export interface FetchBlobOptions {
  readonly maxBytes: number
  readonly signal: AbortSignal
}

/** Fetches one blob from one peer; resolves only with bytes that hash to `cid`. */
export async function fetchBlob (libp2p: Libp2p, peer: PeerId, cid: string, options: FetchBlobOptions): Promise<Uint8Array> {
  const stream = await libp2p.dialProtocol(peer, BLOB_PROTOCOL, { signal: options.signal })
  // A peer that stops sending mid-blob must not hold the read forever: the deadline resets the stream.
  const onAbort = (): void => { stream.abort(new Error(`fetching blob ${cid} from ${peer} timed out`)) }
  options.signal.addEventListener('abort', onAbort, { once: true })
  try {
    stream.send(encodeBlobRequest({ cid }))
    const data = await readBlobResponse(stream, { cid, maxBytes: options.maxBytes, signal: options.signal })
    await stream.close({ signal: options.signal })
    return data
  } catch (err) {
    stream.abort(err as Error)
    throw err
  } finally {
    options.signal.removeEventListener('abort', onAbort)
  }
}
