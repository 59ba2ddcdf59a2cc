// Liveness pings, each connection on its own phase. libp2p's connection monitor pings all of a
// node's connections in the same instant every interval: 50 daemons started together (2,450
// connections) pinged in one 3-second burst a minute that saturated two cores, and the publication
// caught in it took twice as long (BENCHMARKS.md, issue 16 part 10). Here a connection is first
// pinged at a random point of the interval after it is seen, then once an interval. A ping that
// fails or times out aborts the connection (a hung peer is dropped within interval + timeout; a
// crashed one at once, by TCP); a slow answer under the timeout is not a failure. A peer without
// the ping protocol answered multistream-select, so it is alive. The round trip is the
// connection's `rtt` (the latency `/peers` shows).
import { byteStream } from '@libp2p/utils'
import type { ComponentLogger, Connection, Startable, Stream } from '@libp2p/interface'

/** The ping protocol (@libp2p/ping answers it). */
export const LIVENESS_PROTOCOL = '/ipfs/ping/1.0.0'
const PING_BYTES = 32

export interface LivenessMonitorInit {
  /** Between two pings of one connection (default 60 s). */
  readonly intervalMs?: number
  /** A ping not answered within this aborts the connection (default 25 s; keep it under the interval). */
  readonly timeoutMs?: number
}

export interface LivenessMonitorComponents {
  readonly connectionManager: { getConnections: () => Connection[] }
  readonly logger: ComponentLogger
}

export type LivenessMonitor = Startable

export function livenessMonitor (init: LivenessMonitorInit = {}): (components: LivenessMonitorComponents) => LivenessMonitor {
  return components => createLivenessMonitor(components, init)
}

export function createLivenessMonitor (components: LivenessMonitorComponents, init: LivenessMonitorInit = {}): LivenessMonitor {
  const intervalMs = init.intervalMs ?? 60_000
  const timeoutMs = init.timeoutMs ?? 25_000
  const log = components.logger.forComponent('medforge:liveness')
  /** Connection id → when its next ping is due. */
  const due = new Map<string, number>()
  const inFlight = new Set<string>()
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
  }

  async function ping (conn: Connection): Promise<void> {
    inFlight.add(conn.id)
    const signal = AbortSignal.any([stopping.signal, AbortSignal.timeout(timeoutMs)])
    let stream: Stream | undefined
    let start = Date.now()
    try {
      stream = await conn.newStream(LIVENESS_PROTOCOL, { signal, runOnLimitedConnection: true })
      const bytes = byteStream(stream)
      const payload = crypto.getRandomValues(new Uint8Array(PING_BYTES))
      start = Date.now()
      const [, echo] = await Promise.all([bytes.write(payload, { signal }), bytes.read({ bytes: PING_BYTES, signal })])
      if (!Buffer.from(echo.subarray()).equals(payload)) throw new Error('the ping was answered with other bytes')
      conn.rtt = Date.now() - start
      await stream.close({ signal })
    } catch (err) {
      stream?.abort(err as Error)
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

  return {
    start () {
      stopping = new AbortController()
      // Ticks a tenth of the interval apart at most: a connection's ping is late by at most that.
      timer = setInterval(tick, Math.min(1000, intervalMs / 10))
      timer.unref()
    },
    stop () {
      clearInterval(timer)
      stopping.abort()
      due.clear()
    }
  }
}
