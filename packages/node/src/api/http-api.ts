// The daemon's HTTP API (JSON). Reads are open to whoever can reach the address (127.0.0.1 by
// default); writes need the bearer token stored in the data directory.
import { timingSafeEqual } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { decodeManifestFile, recordCid } from '@medforge/protocol'
import type { ApiDaemon } from './api-daemon.ts'
import { MedforgeError, isMedforgeError } from '@medforge/merge-core'
import { BlobStoreWriteError, InvalidModuleError } from '../errors.ts'
import { describeComposite, describeStatus, firstPaint } from './views.ts'
import { dashboardAsset, dashboardPage } from './dashboard-assets.ts'
import { serveEventStream } from './event-stream.ts'

export interface HttpApi {
  readonly url: string
  close (): Promise<void>
}

export interface HttpApiComponents {
  readonly daemon: ApiDaemon
  /** HOST:PORT; port 0 picks a free one. */
  readonly listen: string
  readonly token: string
  /** Host names (besides IP literals and localhost) the API answers to, e.g. behind a proxy. */
  readonly allowedHosts?: readonly string[]
}

const HTTP_CODES: Record<number, string> = { 400: 'ERR_BAD_REQUEST', 401: 'ERR_UNAUTHORIZED', 404: 'ERR_NOT_FOUND', 413: 'ERR_TOO_LARGE' }

/** A request the API refuses before reaching the daemon (bad body, no token, no route). */
class HttpError extends MedforgeError {
  override readonly name = 'HttpError'
  readonly code: string
  readonly status: number
  constructor (status: number, message: string) {
    super(message)
    this.status = status
    this.code = HTTP_CODES[status] ?? 'ERR_HTTP'
  }
}

/** The HTTP status for a failure, chosen by its stable code. */
function statusOf (err: MedforgeError): number {
  if (err instanceof HttpError) return err.status
  if (err instanceof BlobStoreWriteError) return err.diskFull ? 507 : 500
  switch (err.code) {
    case 'ERR_NOT_JOINED': return 404
    case 'ERR_COMPUTE_DEADLINE': return 503
    case 'ERR_COMPUTE_WORKER': return 500
    default: return 422 // the request was understood, and its content refused (with the reason)
  }
}

async function readJson (req: IncomingMessage, limit: number, shape: string): Promise<Record<string, unknown>> {
  const body = await readBody(req, limit)
  let value: unknown
  try {
    value = JSON.parse(body.toString('utf8'))
  } catch {
    throw new HttpError(400, `body must be JSON: ${shape}`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new HttpError(400, `body must be a JSON object: ${shape}`)
  return value as Record<string, unknown>
}

/**
 * DNS rebinding defence: a page on some other site that gets its name resolved to this machine
 * reaches the API with that name in Host. Only IP literals, localhost and names the operator
 * allows are answered.
 */
export function hostAllowed (host: string | undefined, allowed: ReadonlySet<string>): boolean {
  if (host === undefined || host === '') return false
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '')
  if (name === 'localhost' || allowed.has(name)) return true
  if (/^\[[0-9a-fA-F:.]+\]$/.test(name)) return true
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(name)
}

async function readBody (req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > limit) throw new HttpError(413, `request body is ${declared} bytes, the limit is ${limit}`)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > limit) throw new HttpError(413, `request body exceeds the limit of ${limit} bytes`)
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}

function parseListen (listen: string): { host: string, port: number } {
  const i = listen.lastIndexOf(':')
  const port = Number(listen.slice(i + 1))
  if (i <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`API address must be HOST:PORT, got "${listen}"`)
  return { host: listen.slice(0, i).replace(/^\[|\]$/g, ''), port }
}

export async function createHttpApi ({ daemon, listen, token, allowedHosts = [] }: HttpApiComponents): Promise<HttpApi> {
  const hosts = new Set(allowedHosts)
  const expected = Buffer.from(`Bearer ${token}`)
  const authorised = (req: IncomingMessage): boolean => {
    const got = Buffer.from(req.headers.authorization ?? '')
    return got.length === expected.length && timingSafeEqual(got, expected)
  }
  const networkOf = (url: URL): string | undefined => url.searchParams.get('network') ?? undefined

  async function route (req: IncomingMessage, url: URL): Promise<unknown> {
    const get = req.method === 'GET' || req.method === 'HEAD'
    switch (`${get ? 'GET' : req.method} ${url.pathname}`) {
      case 'GET /status':
        if (networkOf(url) !== undefined) daemon.runtime(networkOf(url)) // an unknown network is a 404, as on every endpoint
        return describeStatus(daemon)
      case 'GET /peers': return { peers: daemon.peers() }
      case 'GET /modules': {
        const rt = daemon.runtime(networkOf(url))
        return { network: rt.state.network, modules: daemon.ledger.modules(rt.state.network) }
      }
      case 'GET /composite': return describeComposite(daemon.runtime(networkOf(url)), daemon)
      case 'GET /attestations': {
        const rt = daemon.runtime(networkOf(url))
        return { network: rt.state.network, attestations: daemon.ledger.attestations(rt.state.network) }
      }
      case 'GET /merges': {
        const rt = daemon.runtime(networkOf(url))
        return { network: rt.state.network, merges: daemon.ledger.merges(rt.state.network) }
      }
      case 'GET /events': return { events: daemon.events.recent(Number(url.searchParams.get('limit') ?? 100)) }
      case 'POST /peers/block':
      case 'POST /peers/unblock': {
        if (!authorised(req)) throw new HttpError(401, `${url.pathname} needs the bearer token`)
        const body = await readJson(req, 4096, '{"peerId": "..."}')
        if (typeof body.peerId !== 'string') throw new HttpError(400, 'body must be {"peerId": "..."}')
        try {
          peerIdFromString(body.peerId)
        } catch {
          throw new HttpError(400, `"${body.peerId.slice(0, 100)}" is not a peer id`)
        }
        if (url.pathname.endsWith('/block')) await daemon.blockPeer(body.peerId)
        else daemon.unblockPeer(body.peerId)
        return { blocked: [...daemon.blocked] }
      }
      case 'POST /network/revision': {
        if (!authorised(req)) throw new HttpError(401, 'POST /network/revision needs the bearer token')
        const text = (await readBody(req, 4 * 1024 * 1024)).toString('utf8')
        // Applied here and gossiped: every member applies it (once it verifies against its chain).
        return await daemon.publishRevision(decodeManifestFile(text))
      }
      case 'POST /modules': {
        if (!authorised(req)) throw new HttpError(401, 'POST /modules needs "Authorization: Bearer <token>" (the token is in the data directory\'s api-token file)')
        const rt = daemon.runtime(networkOf(url))
        const json = await readJson(req, 2 * rt.state.manifest.limits.maxModuleBytes + 65536, '{"task", "module" (base64), "distilled" (base64), "samples", "metrics"}')
        if (typeof json.task !== 'string' || typeof json.module !== 'string' || typeof json.distilled !== 'string') throw new HttpError(400, 'task, module and distilled are required strings')
        const samples = json.samples ?? 1
        if (!Number.isSafeInteger(samples) || (samples as number) < 1) throw new HttpError(400, 'samples must be a positive integer')
        const metrics = (json.metrics ?? {}) as Record<string, number>
        const announcement = await rt.publish({
          task: json.task,
          moduleFile: Buffer.from(json.module, 'base64'),
          distilledFile: Buffer.from(json.distilled, 'base64'),
          samples: samples as number,
          metrics
        })
        return { record: recordCid(announcement), module: announcement.module, moduleBlob: announcement.moduleBlob, distilled: announcement.distilled, height: announcement.height, parentRoot: announcement.parentRoot }
      }
      default:
        throw new HttpError(404, `no route ${req.method} ${url.pathname}`)
    }
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (!hostAllowed(req.headers.host, hosts)) {
      res.writeHead(421, { 'content-type': 'application/json; charset=utf-8' })
      res.end(JSON.stringify({ error: `Host "${String(req.headers.host).slice(0, 100)}" is not an address of this API (use an IP address or localhost, or allow the name with --api-host)`, code: 'ERR_HOST_NOT_ALLOWED' }) + '\n')
      return
    }
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (req.method === 'GET' || req.method === 'HEAD') {
      const asset = url.pathname === '/' || url.pathname === '/dashboard' ? dashboardPage(firstPaint(daemon)) : dashboardAsset(url.pathname)
      if (asset !== undefined) {
        res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff', 'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'" })
        res.end(req.method === 'HEAD' ? undefined : asset.body)
        return
      }
      if (url.pathname === '/events/stream') { serveEventStream(daemon.events, req, res); return }
      if (url.pathname === '/metrics') {
        daemon.metrics.text().then(text => {
          res.writeHead(200, { 'content-type': daemon.metrics.contentType })
          res.end(text)
        }, (err: Error) => { res.writeHead(500); res.end(err.message) })
        return
      }
    }
    const send = (status: number, body: unknown): void => {
      const text = JSON.stringify(body, (_k, v: unknown) => v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v, 2)
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' })
      res.end(req.method === 'HEAD' ? undefined : text + '\n')
    }
    route(req, url).then(body => send(200, body), (err: unknown) => {
      if (isMedforgeError(err)) send(statusOf(err), { error: err.message, code: err.code, ...(err instanceof InvalidModuleError ? { reason: err.reason } : {}) })
      else send(500, { error: (err as Error).message, code: 'ERR_INTERNAL' })
    })
  })
  // Idle connections stay open longer than clients keep them (undici: the server's hint minus a
  // margin), so a client never reuses a connection the server is closing at that moment.
  server.keepAliveTimeout = 30_000
  server.headersTimeout = 35_000
  const { host, port } = parseListen(listen)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => { server.off('error', reject); resolve() })
  })
  const address = server.address() as AddressInfo
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    url: `http://${shownHost}:${address.port}`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}
