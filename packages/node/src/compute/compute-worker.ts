// The worker thread's side of compute-workers.ts: one compute engine reading the daemon's blob
// directory, answering one request at a time. A merge polls its shared cancel flag between loss
// evaluations and reports each Fusion prefix as it is folded.
import { parentPort, workerData } from 'node:worker_threads'
import { isMedforgeError } from '@medforge/merge-core'
import { readVerifiedBlob } from '../store/blob-store.ts'
import { createComputeEngine } from './compute-engine.ts'
import type { WorkerReply, WorkerRequest } from './worker-messages.ts'

const port = parentPort
if (port === null) throw new Error('compute-worker.ts runs as a worker thread')
const { blobDir, lane } = workerData as { blobDir: string, lane: string }
// The check thread verifies and forgets; the merge thread keeps decoded modules for the next fold.
const engine = createComputeEngine({ readBlob: cid => readVerifiedBlob(blobDir, cid), keepVerified: lane === 'merge' })

const reply = (message: WorkerReply, transfer: ArrayBuffer[] = []): void => { port.postMessage(message, transfer) }

async function serve (request: WorkerRequest): Promise<void> {
  const { id } = request
  try {
    switch (request.op) {
      case 'network':
        await engine.setNetwork(request.chain)
        return reply({ id, type: 'result', value: null })
      case 'verify':
        return reply({ id, type: 'result', value: engine.verify(request.network, request.ref) })
      case 'check-claim':
        return reply({ id, type: 'result', value: engine.checkClaim(request.network, request.ref) })
      case 'check-publish':
        return reply({ id, type: 'result', value: engine.checkPublish(request.network, request.task, request.author, request.moduleFile, request.distilledFile) })
      case 'merge': {
        const flag = new Int32Array(request.cancel)
        const { summary } = await engine.merge(request.job, {
          cancelled: () => Atomics.load(flag, 0) !== 0,
          onCheckpoint: checkpoint => { reply({ id, type: 'checkpoint', checkpoint }, [checkpoint.moduleFile.buffer as ArrayBuffer]) }
        })
        return reply({ id, type: 'result', value: summary })
      }
    }
  } catch (err) {
    const e = err as Error
    reply({ id, type: 'error', error: { name: e.name, code: isMedforgeError(err) ? err.code : 'ERR_COMPUTE_WORKER', message: e.message, ...('reason' in e ? { reason: String(e.reason) } : {}) } })
  }
}

// Requests are served in arrival order: a lane sends its next one only after this one answers.
let queue = Promise.resolve()
port.on('message', (request: WorkerRequest) => { queue = queue.then(async () => { await serve(request) }) })
