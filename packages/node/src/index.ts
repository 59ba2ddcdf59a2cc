// @medforge/node: the institution daemon, its storage, the local testnet tooling and the CLI. This
// is what programs (the benchmarks, the multi-process tests, an operator's scripts) build on.
export { startDaemon } from './daemon/daemon.ts'
export type { Daemon, DaemonOptions, PeerInfo } from './daemon/daemon.ts'
export type { NetworkRuntime, NetworkRuntimeOptions, PublishRequest, RecordSource } from './daemon/network-runtime.ts'
export { loadNetworkState } from './daemon/network-state.ts'
export type { NetworkState } from './daemon/network-state.ts'
export { TOY_ARCHITECTURE, modelFor, toyWeightsCid } from './daemon/network-model.ts'
export type { NetworkModel } from './daemon/network-model.ts'
export { compositeFromDataDir } from './daemon/composite-export.ts'
export type { MergeSummary } from './compute/merge-job.ts'

export { DataDir } from './store/data-dir.ts'
export type { DaemonConfig, RunningInfo } from './store/data-dir.ts'
export { Ledger } from './store/ledger.ts'
export type { ModuleRow, AttestationRow, MergeRow } from './store/ledger.ts'
export { createBlobStore } from './store/blob-store.ts'
export type { BlobStore } from './store/blob-store.ts'

export { createMedforgeLibp2p } from './p2p/create-libp2p.ts'
export type { MedforgeLibp2p } from './p2p/create-libp2p.ts'
export { blobService, fetchBlob } from './p2p/blob-exchange.ts'
export { syncService } from './p2p/sync-exchange.ts'
export { tcpOneWritePerFrame } from './p2p/one-write-per-frame.ts'

export { readModuleBundle, writeModuleBundle } from './cli/module-bundle.ts'
export { UsageError } from './cli/usage-error.ts'

export { createLocalNetwork, siteDirName } from './testnet/local-network.ts'
export type { LocalNetwork, LocalNetworkSpec, LocalSite } from './testnet/local-network.ts'
export { DaemonUnreachableError, MEDFORGE_BIN, spawnDaemon } from './testnet/daemon-process.ts'
export type { DaemonProcess, SpawnDaemonOptions } from './testnet/daemon-process.ts'
export { agreeOn, waitFor } from './testnet/convergence.ts'
export type { ApiErrorBody, AttestationsResponse, CompositeResponse, MergesResponse, ModulesResponse, NetworkStatus, PeersResponse, PublishResponse, StatusResponse } from './api/api-types.ts'

export * from './errors.ts'
