// A daemon running as a separate process (`medforge daemon`), as the testnet and the multi-process
// tests start it: waits for its api.json, then talks to it over HTTP. Requests ride out a slow or
// briefly unreachable daemon (retries with backoff); the daemon is declared dead only when its
// process has exited or it stayed unreachable for `unreachableMs`, and the error then names it
// and shows the end of its log.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { MedforgeError } from '@medforge/merge-core'
import type { StatusResponse } from '../api/api-types.ts'

export const MEDFORGE_BIN = join(import.meta.dirname, '..', '..', 'bin', 'medforge.js')

/** How long a daemon may stay unreachable before it is declared dead (it may be busy or restarting). */
export const DEFAULT_UNREACHABLE_MS = 60_000
const REQUEST_TIMEOUT_MS = 10_000

/** A daemon process exited, or did not answer for a long time; the message ends with its last log lines. */
export class DaemonUnreachableError extends MedforgeError {
  override readonly name = 'DaemonUnreachableError'
  readonly code = 'ERR_DAEMON_UNREACHABLE'
}

export interface DaemonProcess {
  readonly dir: string
  /** A name for messages (the site's name, or the data directory). */
  readonly label: string
  readonly child: ChildProcess
  readonly url: string
  readonly addresses: string[]
  readonly peerId: string
  output (): string
  /** GET a JSON endpoint, retrying while the daemon is alive but not answering. */
  get (path: string): Promise<ReturnType<typeof JSON.parse>>
  /** GET /status, typed. */
  status (): Promise<StatusResponse>
  post (path: string, body: unknown): Promise<{ status: number, body: ReturnType<typeof JSON.parse> }>
  /** SIGTERM and wait for the exit code. */
  stop (): Promise<number | null>
  /** SIGKILL and wait. */
  kill (): Promise<void>
  readonly exited: Promise<number | null>
}

export interface SpawnDaemonOptions {
  readonly bootstrap?: readonly string[]
  readonly extraArgs?: readonly string[]
  readonly timeoutMs?: number
  readonly label?: string
  readonly unreachableMs?: number
}

/** The last lines of a log, indented, for an error message. */
export function logTail (output: string, lines = 15): string {
  return output.trimEnd().split('\n').slice(-lines).map(l => `    ${l}`).join('\n')
}

export async function spawnDaemon (dir: string, options: SpawnDaemonOptions = {}): Promise<DaemonProcess> {
  const label = options.label ?? dir
  const runningPath = join(dir, 'api.json')
  rmSync(runningPath, { force: true })
  const args = [MEDFORGE_BIN, 'daemon', '--data-dir', dir, ...(options.extraArgs ?? []), ...(options.bootstrap ?? []).flatMap(b => ['--bootstrap', b])]
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const keep = (d: Buffer): void => { out = (out + d.toString()).slice(-200_000) }
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
  const deadline = Date.now() + (options.timeoutMs ?? 30_000)
  while (!existsSync(runningPath)) {
    if (child.exitCode !== null) throw new DaemonUnreachableError(`${label}'s daemon exited with status ${child.exitCode} while starting:\n${logTail(out)}`)
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new DaemonUnreachableError(`${label}'s daemon did not start within ${Math.round((options.timeoutMs ?? 30_000) / 1000)} s:\n${logTail(out)}`) }
    await new Promise(r => setTimeout(r, 50))
  }
  const info = JSON.parse(readFileSync(runningPath, 'utf8')) as { url: string, addresses: string[], peerId: string }
  const token = readFileSync(join(dir, 'api-token'), 'utf8').trim()
  const unreachableMs = options.unreachableMs ?? DEFAULT_UNREACHABLE_MS

  /** One request, retried with backoff (100 ms doubling to 2 s) until the daemon answers or is dead. */
  async function request (path: string, init: RequestInit, timeoutMs: number, retryable: (err: Error) => boolean): Promise<Response> {
    const since = Date.now()
    for (let attempt = 0; ; attempt++) {
      try {
        return await fetch(`${info.url}${path}`, { ...init, signal: AbortSignal.timeout(timeoutMs) })
      } catch (err) {
        const why = (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message
        if (!retryable(err as Error)) throw new DaemonUnreachableError(`${label}'s daemon: ${init.method ?? 'GET'} ${path} failed (${why})`)
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new DaemonUnreachableError(`${label}'s daemon exited (${child.exitCode ?? child.signalCode}); last log lines:\n${logTail(out)}`)
        }
        if (Date.now() - since > unreachableMs) {
          throw new DaemonUnreachableError(`${label}'s daemon at ${info.url} did not answer ${path} for ${Math.round(unreachableMs / 1000)} s (${why}); last log lines:\n${logTail(out)}`)
        }
        await new Promise(r => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)))
      }
    }
  }

  return {
    dir,
    label,
    child,
    url: info.url,
    addresses: info.addresses,
    peerId: info.peerId,
    exited,
    output: () => out,
    async get (path) {
      const res = await request(path, {}, REQUEST_TIMEOUT_MS, () => true)
      return await res.json() as ReturnType<typeof JSON.parse>
    },
    async status () {
      return await (await request('/status', {}, REQUEST_TIMEOUT_MS, () => true)).json() as StatusResponse
    },
    async post (path, body) {
      // A POST is repeated only when it cannot have reached the daemon (the connection was refused).
      const refused = (err: Error): boolean => (err as Error & { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED'
      const res = await request(path, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }, 120_000, refused)
      return { status: res.status, body: await res.json() as ReturnType<typeof JSON.parse> }
    },
    async stop () {
      if (child.exitCode === null) child.kill('SIGTERM')
      return await exited
    },
    async kill () {
      if (child.exitCode === null) child.kill('SIGKILL')
      await exited
    }
  }
}
