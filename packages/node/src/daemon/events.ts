// The daemon's event stream: what the CLI log, the HTTP API (recent events and the live stream),
// the dashboard and the Prometheus metrics observe. Keeps the last events in a bounded ring.
export interface DaemonEventMap {
  record: { network: string, type: string, cid: string, source: string, from: string | undefined }
  refusal: { network: string, code: string, verdict: string, detail: string, source: string, from: string | undefined }
  attestation: { network: string, author: string, stateRoot: string, height: number }
  fetch: { network: string, cid: string, bytes: number, peer: string, ms: number }
  /** A blob that came attached to an announcement (gossip envelope) and was stored: no fetch needed. */
  'blob-attached': { network: string, cid: string, bytes: number, from: string | undefined }
  'fetch-failed': { network: string, cid: string, peer: string, error: string }
  'module-ready': { network: string, cid: string }
  merge: { network: string, stateRoot: string, moduleCount: number, height: number, ms: number, method: string }
  published: { network: string, module: string, task: string }
  'storage-error': { network: string, what: string, error: string }
  'module-invalid': { network: string, cid: string, reason: string, detail: string }
}

export type DaemonEventName = keyof DaemonEventMap
export interface DaemonEvent<K extends DaemonEventName = DaemonEventName> { readonly at: number, readonly name: K, readonly detail: DaemonEventMap[K] }

export interface DaemonEvents {
  emit<K extends DaemonEventName> (name: K, detail: DaemonEventMap[K]): void
  on (listener: (event: DaemonEvent) => void): () => void
  recent (limit?: number): DaemonEvent[]
  /** Events emitted so far, by name. */
  readonly counts: ReadonlyMap<DaemonEventName, number>
}

export function createDaemonEvents (capacity = 1000): DaemonEvents {
  const ring: DaemonEvent[] = []
  const listeners = new Set<(event: DaemonEvent) => void>()
  const counts = new Map<DaemonEventName, number>()
  return {
    counts,
    emit (name, detail) {
      const event = { at: Date.now(), name, detail } as DaemonEvent
      ring.push(event)
      if (ring.length > capacity) ring.shift()
      counts.set(name, (counts.get(name) ?? 0) + 1)
      for (const l of listeners) {
        try { l(event) } catch { /* a failing observer must not break the daemon */ }
      }
    },
    on (listener) {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    },
    recent: (limit = 100) => ring.slice(-limit)
  }
}
