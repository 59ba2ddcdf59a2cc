// Liveness pings, each connection on its own phase and on one long-lived stream. libp2p's
// connection monitor pings all of a node's connections in the same instant every interval: 50
// daemons started together (2,450 connections) pinged in one 3-second burst a minute that saturated
// two cores (BENCHMARKS.md, issue 16 part 10). Here a connection is first pinged at a random point of
// the interval after it is seen, then once an interval. And each ping is no longer a new stream:
// opening one (multistream-select, a peer-store write at both ends, three loggers) cost far more than
// the 32 bytes it carried, and at 50 daemons those streams were 20-40% of an idle network's CPU
// (part 14). Between MedForge daemons the pings go over one stream per connection
// (/medforge/liveness/1.0.0, served here); a peer without it is pinged with /ipfs/ping/1.0.0, a
// stream per ping. A ping that fails or times out aborts the connection (a hung peer is dropped
// within interval + timeout; a crashed one at once, by TCP); a slow answer under the timeout is not
// a failure. A peer with neither protocol answered multistream-select, so it is alive. The round
// trip is the connection's `rtt` (the latency `/peers` shows).
import { byteStream } from '@libp2p/utils'
import type { ByteStream } from '@libp2p/utils'
import type { ComponentLogger, Connection, Startable, Stream } from '@libp2p/interface'
import type { Registrar } from '@libp2p/interface-internal'

/** MedForge's ping: 32 bytes echoed, as /ipfs/ping/1.0.0, but any number of times on one stream. */
export const LIVENESS_PROTOCOL = '/medforge/liveness/1.0.0'
/** The ping protocol (@libp2p/ping answers it): one ping per stream. */
export const PING_PROTOCOL = '/ipfs/ping/1.0.0'
const PING_BYTES = 32

export interface LivenessMonitorInit {
  /** Between two pings of one connection (default 60 s). */
  readonly intervalMs?: number
  /** A ping not answered within this aborts the connection (default 25 s; keep it under the interval). */
  readonly timeoutMs?: number
  /** The server's bound: a peer pinging more often than this on one stream loses the stream (default 1 s). */
  readonly minPingGapMs?: number
}

export interface LivenessMonitorComponents {
  readonly connectionManager: { getConnections: () => Connection[] }
  readonly registrar: Pick<Registrar, 'handle' | 'unhandle'>
  readonly logger: ComponentLogger
}

export type LivenessMonitor = Startable

export function livenessMonitor (init: LivenessMonitorInit = {}): (components: LivenessMonitorComponents) => LivenessMonitor {
  return components => createLivenessMonitor(components, init)
}

/** A connection's ping stream, kept between pings when the peer speaks LIVENESS_PROTOCOL. */
interface PingStream { readonly stream: Stream, readonly bytes: ByteStream<Stream>, readonly kept: boolean }

export function createLivenessMonitor (components: LivenessMonitorComponents, init: LivenessMonitorInit = {}): LivenessMonitor {
  const intervalMs = init.intervalMs ?? 60_000
  const timeoutMs = init.timeoutMs ?? 25_000
  const minPingGapMs = init.minPingGapMs ?? 1000
  const log = components.logger.forComponent('medforge:liveness')
  /** Connection id → when its next ping is due. */
  const due = new Map<string, number>()
  const inFlight = new Set<string>()
  /** Connection id → its open ping stream (bounded by the connections: dropped with them). */
  const kept = new Map<string, PingStream>()
  let timer: NodeJS.Timeout | undefined
  let stopping = new AbortController()

  function tick (): void {
    const now = Date.now()
    const open = new Set<string>()
    for (const conn of components.connectionManager.getConnections()) {
      open.add(conn.id)
      const at = due.get(conn.id)
      if (at === undefined) due.set(conn.id, now + Math.random() * intervalMs)
      else if (at <= now && !inFlight.has(conn.id)) {
        due.set(conn.id, now + intervalMs)
        void ping(conn)
      }
    }
    for (const id of due.keys()) if (!open.has(id)) due.delete(id)
    for (const id of kept.keys()) if (!open.has(id)) kept.delete(id)
  }

  async function pingStream (conn: Connection, signal: AbortSignal): Promise<PingStream> {
    const open = kept.get(conn.id)
    // A stream the peer reset or closed between two pings (it restarted its service) is replaced.
    if (open !== undefined && open.stream.status === 'open') return open
    kept.delete(conn.id)
    const stream = await conn.newStream([LIVENESS_PROTOCOL, PING_PROTOCOL], { signal, runOnLimitedConnection: true })
    const opened = { stream, bytes: byteStream(stream), kept: stream.protocol === LIVENESS_PROTOCOL }
    if (opened.kept) {
      // Quiet for an interval between pings: not inactive.
      stream.inactivityTimeout = Math.max(stream.inactivityTimeout, 3 * intervalMs)
      kept.set(conn.id, opened)
    }
    return opened
  }

  async function ping (conn: Connection): Promise<void> {
    inFlight.add(conn.id)
    const signal = AbortSignal.any([stopping.signal, AbortSignal.timeout(timeoutMs)])
    let ps: PingStream | undefined
    let start = Date.now()
    try {
      ps = await pingStream(conn, signal)
      const payload = crypto.getRandomValues(new Uint8Array(PING_BYTES))
      start = Date.now()
      const [, echo] = await Promise.all([ps.bytes.write(payload, { signal }), ps.bytes.read({ bytes: PING_BYTES, signal })])
      if (!Buffer.from(echo.subarray()).equals(payload)) throw new Error('the ping was answered with other bytes')
      conn.rtt = Date.now() - start
      if (!ps.kept) await ps.stream.close({ signal })
    } catch (err) {
      kept.delete(conn.id)
      ps?.stream.abort(err as Error)
      if (stopping.signal.aborted) return
      if ((err as Error).name === 'UnsupportedProtocolError') {
        conn.rtt = (Date.now() - start) / 2 // multistream-select's two round trips
        return
      }
      log('ping of %p failed (%s); closing the connection', conn.remotePeer, (err as Error).message)
      conn.abort(err as Error)
    } finally {
      inFlight.delete(conn.id)
    }
  }

  /** Echoes each ping; a peer that sends more than one ping's bytes unanswered, or pings too often, loses the stream. */
  async function serve (stream: Stream): Promise<void> {
    stream.inactivityTimeout = Math.max(stream.inactivityTimeout, 3 * intervalMs)
    let unanswered = 0
    let lastPing = -Infinity
    try {
      for await (const chunk of stream) {
        if (unanswered === 0) {
          const now = Date.now()
          if (now - lastPing < minPingGapMs) throw new Error(`pinged again within ${now - lastPing} ms (at most one ping per ${minPingGapMs} ms)`)
          lastPing = now
        }
        unanswered += chunk.byteLength
        if (unanswered > PING_BYTES) throw new Error(`sent ${unanswered} bytes before its ping was answered (a ping is ${PING_BYTES})`)
        if (unanswered === PING_BYTES) unanswered = 0
        if (!stream.send(chunk)) await stream.onDrain({ signal: AbortSignal.timeout(timeoutMs) })
      }
      await stream.close({ signal: AbortSignal.timeout(timeoutMs) })
    } catch (err) {
      log('liveness stream closed: %s', (err as Error).message)
      stream.abort(err as Error)
    }
  }

  return {
    async start () {
      stopping = new AbortController()
      // Two per connection: a peer replacing its stream may open the new one before the old has closed.
      await components.registrar.handle(LIVENESS_PROTOCOL, async stream => { await serve(stream) }, { maxInboundStreams: 2, runOnLimitedConnection: true })
      // Ticks a tenth of the interval apart at most: a connection's ping is late by at most that.
      timer = setInterval(tick, Math.min(1000, intervalMs / 10))
      timer.unref()
    },
    async stop () {
      clearInterval(timer)
      stopping.abort()
      due.clear()
      kept.clear()
      await components.registrar.unhandle(LIVENESS_PROTOCOL)
    }
  }
}
