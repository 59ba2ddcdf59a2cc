// Server-sent events: the dashboard's live feed of daemon events. A client that cannot keep up
// (over 1 MiB unsent) is disconnected rather than buffered without bound.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { DaemonEvents } from '../daemon/events.ts'

const MAX_BUFFERED = 1 << 20

export function serveEventStream (events: DaemonEvents, req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' })
  res.write(': medforge event stream\n\n')
  const send = (text: string): void => {
    if (res.writableLength > MAX_BUFFERED) { res.destroy(); return }
    res.write(text)
  }
  const off = events.on(e => send(`event: ${e.name}\ndata: ${JSON.stringify({ at: e.at, ...e.detail })}\n\n`))
  const heartbeat = setInterval(() => send(': keep-alive\n\n'), 15_000)
  heartbeat.unref()
  const close = (): void => { off(); clearInterval(heartbeat) }
  req.on('close', close)
  res.on('close', close)
}
