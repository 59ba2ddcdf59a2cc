// The API's response bodies as types, shared by everything that reads them: the CLI, the testnet,
// the tests and benchmarks (the dashboard reads the same JSON in the browser).
import type { ModuleRow, AttestationRow, MergeRow } from '../store/ledger.ts'
import type { PeerInfo } from './api-daemon.ts'
import type { describeComposite, describeNetwork, describeStatus } from './views.ts'

export type StatusResponse = ReturnType<typeof describeStatus>
export type NetworkStatus = ReturnType<typeof describeNetwork>
export type CompositeResponse = ReturnType<typeof describeComposite>
export interface PeersResponse { readonly peers: PeerInfo[] }
export interface ModulesResponse { readonly network: string, readonly modules: ModuleRow[] }
export interface AttestationsResponse { readonly network: string, readonly attestations: AttestationRow[] }
export interface MergesResponse { readonly network: string, readonly merges: MergeRow[] }
export interface PublishResponse { readonly record: string, readonly module: string, readonly moduleBlob: string, readonly distilled: string, readonly height: number, readonly parentRoot: string }
/** Every error answer: the message, the stable code, and for a refused module the validation reason. */
export interface ApiErrorBody { readonly error: string, readonly code: string, readonly reason?: string }
