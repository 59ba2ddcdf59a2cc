// Hugging Face PEFT adapter folders on disk: `adapter_config.json` + `adapter_model.safetensors`.
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { InvalidAdapterError } from './errors.ts'
import { parseLoraConfig, serializeLoraConfig } from './lora-config.ts'
import type { JsonValue } from './canonical-json.ts'
import { loraModuleFromTensors, moduleTensors } from './lora-module.ts'
import type { LoraModule } from './lora-module.ts'
import { decodeSafetensors, encodeSafetensors } from './safetensors.ts'
import type { OutputDtype } from './safetensors.ts'

export const ADAPTER_CONFIG = 'adapter_config.json'
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors'

export interface LoadedAdapter {
  readonly module: LoraModule
  readonly metadata: Record<string, string>
  readonly path: string
}

/** Reads a PEFT adapter from its folder, or from its `.safetensors` file with the config beside it. */
export function readPeftAdapter (path: string): LoadedAdapter {
  if (!existsSync(path)) throw new InvalidAdapterError(path, 'no such file or folder')
  const isDir = statSync(path).isDirectory()
  const dir = isDir ? path : dirname(path)
  const weightsPath = isDir ? join(dir, ADAPTER_WEIGHTS) : path
  const configPath = join(dir, ADAPTER_CONFIG)
  if (!existsSync(weightsPath)) {
    const pickle = join(dir, 'adapter_model.bin')
    throw new InvalidAdapterError(dir, existsSync(pickle)
      ? 'only adapter_model.bin (a pickle) is present: save the adapter with safe_serialization=True to get adapter_model.safetensors'
      : `missing ${basename(weightsPath)}`)
  }
  if (!existsSync(configPath)) throw new InvalidAdapterError(dir, `missing ${ADAPTER_CONFIG}`)
  let configJson: unknown
  try {
    configJson = JSON.parse(readFileSync(configPath, 'utf8'))
  } catch (err) {
    throw new InvalidAdapterError(configPath, `not valid JSON: ${(err as Error).message}`)
  }
  const config = parseLoraConfig(configJson, configPath)
  const file = decodeSafetensors(readFileSync(weightsPath), { source: weightsPath })
  return { module: loraModuleFromTensors(config, file.tensors, weightsPath), metadata: file.metadata, path: dir }
}

export interface WriteAdapterOptions {
  readonly dtype?: OutputDtype
  /** Extra safetensors metadata; `format: pt` is always set, as PEFT writes it. */
  readonly metadata?: Record<string, string>
  readonly includeHeads?: boolean
  readonly configOverrides?: Record<string, JsonValue>
}

/** Writes a folder PEFT's `PeftModel.from_pretrained` loads. Files appear atomically (temp + rename). */
export function writePeftAdapter (dir: string, module: LoraModule, options: WriteAdapterOptions = {}): void {
  mkdirSync(dir, { recursive: true })
  const bytes = encodeSafetensors(moduleTensors(module, options.includeHeads ?? true), {
    dtype: options.dtype ?? 'F32',
    metadata: { ...options.metadata, format: 'pt' }
  })
  writeAtomically(join(dir, ADAPTER_WEIGHTS), bytes)
  writeAtomically(join(dir, ADAPTER_CONFIG), serializeLoraConfig(module.config, options.configOverrides) + '\n')
}

export function writeAtomically (path: string, data: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}`
  writeFileSync(tmp, data)
  renameSync(tmp, path)
}
