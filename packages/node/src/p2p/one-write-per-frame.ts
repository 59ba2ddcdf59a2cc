// TCP with one socket write per encrypted frame. Noise hands the connection each frame as two
// buffers (its 2-byte length, then the ciphertext) and @libp2p/tcp writes each buffer with its own
// socket.write: two system calls per frame, one of them for 2 bytes (and, with Nagle off, a 2-byte
// TCP segment). At 50 daemons on 2 cores socket writes were 13% of the main threads' CPU
// (BENCHMARKS.md, issue 16). This wraps the TCP transport through its public interfaces only
// (Transport, Upgrader, the connection's send) and joins a small frame's buffers before they are sent.
import { serviceCapabilities, transportSymbol } from '@libp2p/interface'
import type { CreateListenerOptions, DialTransportOptions, Listener, MultiaddrConnection, Transport, Upgrader } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import type { TCPComponents, TCPOptions } from '@libp2p/tcp'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Uint8ArrayList } from 'uint8arraylist'

export function tcpOneWritePerFrame (init?: TCPOptions): (components: TCPComponents) => Transport {
  const factory = tcp(init)
  return components => {
    const inner = factory(components)
    return {
      [transportSymbol]: true,
      [Symbol.toStringTag]: inner[Symbol.toStringTag],
      [serviceCapabilities]: (inner as { [serviceCapabilities]?: string[] })[serviceCapabilities] ?? ['@libp2p/transport'],
      dial: async (ma: Multiaddr, options: DialTransportOptions) => await inner.dial(ma, { ...options, upgrader: joiningUpgrader(options.upgrader) }),
      createListener: (options: CreateListenerOptions): Listener => inner.createListener({ ...options, upgrader: joiningUpgrader(options.upgrader) }),
      listenFilter: addrs => inner.listenFilter(addrs),
      dialFilter: addrs => inner.dialFilter(addrs)
    }
  }
}

function joiningUpgrader (upgrader: Upgrader): Upgrader {
  type Opts = Parameters<Upgrader['upgradeOutbound']>[1]
  return {
    upgradeOutbound: async (maConn: MultiaddrConnection, opts: Opts) => await upgrader.upgradeOutbound(joinFrames(maConn), opts),
    upgradeInbound: async (maConn: MultiaddrConnection, opts: Opts) => { await upgrader.upgradeInbound(joinFrames(maConn), opts) },
    createInboundAbortSignal: signal => upgrader.createInboundAbortSignal(signal),
    getStreamMuxers: () => upgrader.getStreamMuxers(),
    getConnectionEncrypters: () => upgrader.getConnectionEncrypters()
  }
}

/** Frames up to this size are joined; a larger one's 2-byte prefix costs little beside it, and a copy would not. */
export const JOIN_MAX_BYTES = 16 * 1024

/** A small frame sent as several buffers is joined into one (a copy of a few KiB, cheaper than a system call). */
export function joinFrames<T extends Pick<MultiaddrConnection, 'send'>> (conn: T): T {
  const send = conn.send.bind(conn)
  conn.send = (data: Uint8Array | Uint8ArrayList) => send(data instanceof Uint8Array || data.byteLength > JOIN_MAX_BYTES ? data : data.subarray())
  return conn
}
