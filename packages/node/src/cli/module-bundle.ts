// A module bundle on disk: what an institution publishes, and nothing else.
//   adapter_config.json + adapter_model.safetensors   the PEFT adapter (LoRA factors + task head)
//   distilled.safetensors                            the distilled set (see merge-core distilled-set)
//   medforge-module.json                             {"task", "samples", "metrics"}
// A bare PEFT adapter folder publishes too (task and samples from the command line), but only a
// bundle with a distilled set can join a network that merges with a searched method.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { encodeDistilledSet, encodeModuleFile, readPeftAdapter, writeAtomically, writePeftAdapter } from '@medforge/merge-core'
import type { DistilledSet, LoraModule } from '@medforge/merge-core'
import { InvalidModuleError } from '../errors.ts'

export const DISTILLED_FILE = 'distilled.safetensors'
export const BUNDLE_META_FILE = 'medforge-module.json'

export interface BundleMeta { readonly task?: string, readonly samples?: number, readonly metrics?: Record<string, number> }

export interface LoadedBundle {
  readonly module: LoraModule
  readonly moduleFile: Uint8Array
  readonly distilledFile: Uint8Array | undefined
  readonly meta: BundleMeta
}

export function readModuleBundle (dir: string): LoadedBundle {
  const { module } = readPeftAdapter(dir)
  const distilledPath = join(dir, DISTILLED_FILE)
  const metaPath = join(dir, BUNDLE_META_FILE)
  let meta: BundleMeta = {}
  if (existsSync(metaPath)) {
    try {
      meta = JSON.parse(readFileSync(metaPath, 'utf8')) as BundleMeta
    } catch (err) {
      throw new InvalidModuleError(metaPath, `not valid JSON: ${(err as Error).message}`, 'malformed')
    }
  }
  return { module, moduleFile: encodeModuleFile(module), distilledFile: existsSync(distilledPath) ? readFileSync(distilledPath) : undefined, meta }
}

export function writeModuleBundle (dir: string, module: LoraModule, distilled: DistilledSet, meta: BundleMeta): void {
  writePeftAdapter(dir, module)
  writeAtomically(join(dir, DISTILLED_FILE), encodeDistilledSet(distilled))
  writeAtomically(join(dir, BUNDLE_META_FILE), JSON.stringify(meta, null, 2) + '\n')
}
