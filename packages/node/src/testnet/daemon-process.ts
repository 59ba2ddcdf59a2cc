// A daemon running as a separate process (`medforge daemon`), as the testnet and the multi-process
// tests start it: waits for its api.json, then talks to it over HTTP.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'

export const MEDFORGE_BIN = join(import.meta.dirname, '..', '..', 'bin', 'medforge.js')

export interface DaemonProcess {
  readonly dir: string
  readonly child: ChildProcess
  readonly url: string
  readonly addresses: string[]
  readonly peerId: string
  output (): string
  get (path: string): Promise<ReturnType<typeof JSON.parse>>
  post (path: string, body: unknown): Promise<{ status: number, body: ReturnType<typeof JSON.parse> }>
  /** SIGTERM and wait for the exit code. */
  stop (): Promise<number | null>
  /** SIGKILL and wait. */
  kill (): Promise<void>
  readonly exited: Promise<number | null>
}

export async function spawnDaemon (dir: string, options: { bootstrap?: readonly string[], extraArgs?: readonly string[], timeoutMs?: number } = {}): Promise<DaemonProcess> {
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
    if (child.exitCode !== null) throw new Error(`daemon in ${dir} exited with ${child.exitCode}:\n${out}`)
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`daemon in ${dir} did not start:\n${out}`) }
    await new Promise(r => setTimeout(r, 50))
  }
  const info = JSON.parse(readFileSync(runningPath, 'utf8')) as { url: string, addresses: string[], peerId: string }
  const token = readFileSync(join(dir, 'api-token'), 'utf8').trim()
  return {
    dir,
    child,
    url: info.url,
    addresses: info.addresses,
    peerId: info.peerId,
    exited,
    output: () => out,
    async get (path) {
      const res = await fetch(`${info.url}${path}`, { signal: AbortSignal.timeout(10_000) })
      return await res.json() as ReturnType<typeof JSON.parse>
    },
    async post (path, body) {
      const res = await fetch(`${info.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(120_000) })
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
