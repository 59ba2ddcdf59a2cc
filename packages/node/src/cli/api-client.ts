// The CLI's side of the daemon API: find the running daemon from its data directory and call it.
import { ApiRequestError } from '../errors.ts'
import type { DataDir } from '../store/data-dir.ts'

export async function callApi (dataDir: DataDir, method: 'GET' | 'POST', path: string, body?: unknown, options: { api?: string } = {}): Promise<unknown> {
  const running = dataDir.running()
  const base = options.api !== undefined ? `http://${options.api}` : running?.url
  if (base === undefined) throw new ApiRequestError(`no running daemon found for ${dataDir.dir} (start it with 'medforge daemon --data-dir ${dataDir.dir}')`, 0)
  let res: Response
  try {
    res = await fetch(`${base}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(method === 'POST' ? { authorization: `Bearer ${dataDir.apiToken()}` } : {}) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(120_000)
    })
  } catch (err) {
    throw new ApiRequestError(`cannot reach the daemon at ${base}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message} (is it running?)`, 0)
  }
  const json = await res.json().catch(() => ({ error: `non-JSON answer (HTTP ${res.status})` })) as Record<string, unknown>
  if (!res.ok) throw new ApiRequestError(`daemon refused ${method} ${path}: ${String(json.error ?? res.statusText)}`, res.status)
  return json
}
