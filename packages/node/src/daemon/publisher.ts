// This institution's own modules: checked against the network on a compute thread (exactly the
// checks every peer will run on receipt), stored, announced on top of the current state, gossiped
// (with the module file and distilled set attached when they are small).
import { blobsToAttach, encodeGossipEnvelope, encodeRecord, signRecord } from '@medforge/protocol'
import type { Identity, ModuleAnnouncement } from '@medforge/protocol'
import type { Compute } from '../compute/compute-workers.ts'
import { DEFAULT_PUBLISH_WAIT_MS } from '../constants.ts'
import { InvalidModuleError } from '../errors.ts'
import type { BlobStore } from '../store/blob-store.ts'
import type { DaemonEvents } from './events.ts'
import type { NetworkState } from './network-state.ts'
import type { RecordHandler } from './record-handler.ts'

export interface PublishRequest {
  readonly task: string
  readonly moduleFile: Uint8Array
  readonly distilledFile: Uint8Array
  readonly samples: number
  readonly metrics?: Record<string, number>
}

export interface PublisherComponents {
  readonly state: () => NetworkState
  readonly identity: Identity
  readonly compute: Pick<Compute, 'checkPublish'>
  readonly blobs: Pick<BlobStore, 'putVerified'>
  readonly head: () => { stateRoot: string, height: number }
  /** Modules this institution already announced for a task at a height. */
  readonly announced: (task: string, height: number) => string[]
  readonly records: Pick<RecordHandler, 'handle'>
  readonly gossip: (bytes: Uint8Array) => Promise<void>
  readonly events: Pick<DaemonEvents, 'emit'>
  readonly log: (line: string) => void
  /** How long a publication may wait for this site's previous module to be merged. */
  readonly waitMs?: number
}

export interface Publisher {
  publish (request: PublishRequest): Promise<ModuleAnnouncement>
}

export function createPublisher (components: PublisherComponents): Publisher {
  const { identity, compute, blobs, records, events, log } = components
  return {
    async publish (request) {
      const state = components.state()
      const network = state.network
      if (!state.tasks.has(request.task)) throw new InvalidModuleError('publish', `task "${request.task}" is not one of the network's tasks (${[...state.tasks.keys()].join(', ')})`, 'unknown_task')
      const member = state.members.get(identity.peerId)
      if (member === undefined || state.revoked.has(identity.peerId) || !member.roles.includes('contributor')) {
        throw new InvalidModuleError('publish', `this institution (${identity.peerId}) is not a contributor of network ${network}`, 'malformed')
      }
      const size = request.moduleFile.length + request.distilledFile.length
      if (size > state.manifest.limits.maxModuleBytes) throw new InvalidModuleError('publish', `module and distilled set are ${size} bytes, the network's limit is ${state.manifest.limits.maxModuleBytes}`, 'too_large')
      const checked = await compute.checkPublish(network, request.task, identity.peerId, request.moduleFile, request.distilledFile)
      const moduleBlob = blobs.putVerified(checked.moduleBlob, checked.moduleFile)
      const distilled = blobs.putVerified(checked.distilled, request.distilledFile)
      // A second module for the same task at the same height would be equivocation (both lost):
      // when this site's previous one is still being merged, wait for the head to move past it.
      let parent = components.head()
      const deadline = Date.now() + (components.waitMs ?? DEFAULT_PUBLISH_WAIT_MS)
      while (components.announced(request.task, parent.height + 1).some(m => m !== checked.module)) {
        if (Date.now() > deadline) {
          throw new InvalidModuleError('publish', `this institution's previous ${request.task} module at height ${parent.height + 1} is not merged yet; publish again once it is (two at one height would be equivocation)`, 'malformed')
        }
        await new Promise(resolve => setTimeout(resolve, 100))
        parent = components.head()
      }
      const announcement = await signRecord<ModuleAnnouncement>({
        type: 'module-announcement',
        network,
        task: request.task,
        module: checked.module,
        moduleBlob,
        distilled,
        head: checked.head,
        parentRoot: parent.stateRoot,
        height: parent.height + 1,
        samples: request.samples,
        metrics: request.metrics ?? {},
        createdAt: Date.now()
      }, identity)
      const bytes = encodeRecord(announcement)
      const result = await records.handle(bytes, 'local')
      if (result.verdict !== 'accept') throw new InvalidModuleError('publish', `own announcement refused: ${result.code} ${result.detail ?? ''}`, 'malformed')
      // The blobs ride along when they are small, so that no peer has to fetch them.
      const envelope = encodeGossipEnvelope({ record: bytes, blobs: blobsToAttach([checked.moduleFile, request.distilledFile]) })
      await components.gossip(envelope).catch(err => { log(`announcement not gossiped yet (${(err as Error).message}); peers will sync it`) })
      events.emit('published', { network, module: announcement.module, task: announcement.task })
      return announcement
    }
  }
}
