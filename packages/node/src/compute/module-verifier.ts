// Turns a module row and its two blobs into a merge input, or says precisely why it cannot be one.
// Every honest peer runs the same checks on the same bytes, so all of them exclude the same modules.
import { decodeModuleFile, headCid, moduleCid } from '@medforge/merge-core'
import type { LoraModule } from '@medforge/merge-core'
import type { TaskSpec } from '@medforge/protocol'
import { InvalidModuleError } from '../errors.ts'
import { checkLoraPolicy } from '../daemon/network-model.ts'
import type { DistilledContext } from '../daemon/network-model.ts'
import type { NetworkState } from '../daemon/network-state.ts'
import type { ModuleRef } from './merge-job.ts'

/**
 * The network's policy and the base model's shapes, checked on a decoded module and its distilled
 * set (throws InvalidModuleError); returns the distilled set as the merge's context. What a
 * publisher checks before signing and every peer checks on receipt.
 */
export function checkFitsNetwork (state: NetworkState, module: LoraModule, task: TaskSpec, distilledBytes: Uint8Array, where: string, distilledWhere: string): DistilledContext {
  checkLoraPolicy(module, state.manifest, where)
  state.model.checkModule(module, task, where)
  return state.model.decodeDistilled(distilledBytes, task, distilledWhere)
}

export function verifyModule (state: NetworkState, row: ModuleRef, moduleBytes: Uint8Array, distilledBytes: Uint8Array): { module: LoraModule } & DistilledContext | InvalidModuleError {
  const task = state.tasks.get(row.task)
  if (task === undefined) return new InvalidModuleError(`module ${row.cid}`, `task "${row.task}" is not in the network`, 'unknown_task')
  try {
    const module = decodeModuleFile(moduleBytes, `module blob ${row.moduleBlob}`)
    const actual = moduleCid(module)
    if (actual !== row.cid) return new InvalidModuleError(`module blob ${row.moduleBlob}`, `holds module ${actual}, the announcement says ${row.cid}`, 'malformed')
    if (module.author !== row.author) return new InvalidModuleError(`module ${row.cid}`, `the file names ${module.author ?? 'no author'}, the announcement's author is ${row.author}`, 'not_module_author')
    const head = headCid(module) ?? null
    if (head !== row.head) return new InvalidModuleError(`module ${row.cid}`, `task head is ${head ?? 'absent'}, the announcement says ${row.head ?? 'none'}`, 'malformed')
    return { module, ...checkFitsNetwork(state, module, task, distilledBytes, `module ${row.cid}`, `distilled set ${row.distilled}`) }
  } catch (err) {
    if (err instanceof InvalidModuleError) return err
    return new InvalidModuleError(`module ${row.cid}`, (err as Error).message, 'malformed')
  }
}
