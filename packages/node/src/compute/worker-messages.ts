// The messages between the daemon's main thread and a compute worker (structured-clone data only).
import type { SignedManifest } from '@medforge/protocol'
import type { Checkpoint, MergeJob, ModuleRef } from './merge-job.ts'

export type WorkerRequest =
  | { readonly id: number, readonly op: 'network', readonly chain: readonly SignedManifest[] }
  | { readonly id: number, readonly op: 'verify', readonly network: string, readonly ref: ModuleRef }
  | { readonly id: number, readonly op: 'check-claim', readonly network: string, readonly ref: ModuleRef }
  | { readonly id: number, readonly op: 'check-publish', readonly network: string, readonly task: string, readonly author: string, readonly moduleFile: Uint8Array, readonly distilledFile: Uint8Array }
  | { readonly id: number, readonly op: 'merge', readonly job: MergeJob, readonly cancel: SharedArrayBuffer }

/** An error as it crosses the thread boundary: its stable code, and the InvalidModuleError reason. */
export interface WorkerErrorData { readonly name: string, readonly code: string, readonly message: string, readonly reason?: string }

export type WorkerReply =
  | { readonly id: number, readonly type: 'result', readonly value: unknown }
  | { readonly id: number, readonly type: 'checkpoint', readonly checkpoint: Checkpoint }
  | { readonly id: number, readonly type: 'error', readonly error: WorkerErrorData }
