// The ledger's rows as the rest of the daemon sees them.
import type { SQLInputValue } from 'node:sqlite'

export type Row = Record<string, SQLInputValue>

export type ModuleStatus = 'fetching' | 'ready' | 'invalid' | 'revoked'

export interface ModuleRow {
  readonly network: string
  readonly cid: string
  readonly recordCid: string
  readonly task: string
  readonly height: number
  readonly author: string
  readonly moduleBlob: string
  readonly distilled: string
  readonly head: string | null
  readonly samples: number
  readonly parentRoot: string
  readonly status: ModuleStatus
  readonly reason: string | null
  readonly admittedAt: number
  readonly bytes: number | null
  /** Its module blob was checked to be this module, by this author: no other member can claim it now. */
  readonly verified: boolean
}

export interface AttestationRow {
  readonly network: string
  readonly author: string
  readonly recordCid: string
  readonly stateRoot: string
  readonly height: number
  readonly moduleCount: number
  readonly createdAt: number
  readonly receivedAt: number
}

export interface MergeRow {
  readonly network: string
  readonly stateRoot: string
  readonly moduleCount: number
  readonly height: number
  readonly method: string
  readonly modules: readonly string[]
  readonly details: unknown
  readonly startedAt: number
  readonly finishedAt: number
}

export interface CheckpointRow {
  readonly network: string
  readonly prefix: string
  readonly count: number
  readonly blob: string
  readonly steps: string
}


export function moduleRow (r: Row): ModuleRow {
  return {
    network: String(r.network),
    cid: String(r.cid),
    recordCid: String(r.record_cid),
    task: String(r.task),
    height: Number(r.height),
    author: String(r.author),
    moduleBlob: String(r.module_blob),
    distilled: String(r.distilled),
    head: r.head === null ? null : String(r.head),
    samples: Number(r.samples),
    parentRoot: String(r.parent_root),
    status: String(r.status) as ModuleStatus,
    reason: r.reason === null ? null : String(r.reason),
    admittedAt: Number(r.admitted_at),
    bytes: r.bytes === null ? null : Number(r.bytes),
    verified: Number(r.verified) === 1
  }
}
