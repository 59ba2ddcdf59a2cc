// The single-file form of a module that travels as one blob: a canonical safetensors file (F32,
// sorted tensors) holding the LoRA factors and the task head, with the PEFT adapter config in the
// `__metadata__` under `medforge.lora_config`. The same module always gives the same bytes.
import { InvalidAdapterError } from './errors.ts'
import { parseLoraConfig, serializeLoraConfig } from './lora-config.ts'
import type { LoraConfig } from './lora-config.ts'
import { loraModuleFromTensors, moduleTensors } from './lora-module.ts'
import type { LoraModule } from './lora-module.ts'
import { decodeSafetensors, encodeSafetensors, readSafetensorsMetadata } from './safetensors.ts'

export const MODULE_FILE_CONFIG_KEY = 'medforge.lora_config'
export const MODULE_FILE_AUTHOR_KEY = 'medforge.author'
export const MODULE_FILE_FORMAT = 'medforge-module/v1'
/** Longer than any libp2p peer id in text form; bounds what a file can make us store. */
export const MAX_AUTHOR_LENGTH = 128

export function encodeModuleFile (module: LoraModule): Uint8Array {
  const metadata: Record<string, string> = { format: 'pt', 'medforge.format': MODULE_FILE_FORMAT, [MODULE_FILE_CONFIG_KEY]: serializeLoraConfig(module.config) }
  if (module.author !== undefined) metadata[MODULE_FILE_AUTHOR_KEY] = module.author
  return encodeSafetensors(moduleTensors(module, true), { metadata })
}

function checkedAuthor (metadata: Readonly<Record<string, string>>, source: string): string | undefined {
  const author = metadata[MODULE_FILE_AUTHOR_KEY]
  if (author !== undefined && (author.length === 0 || author.length > MAX_AUTHOR_LENGTH)) {
    throw new InvalidAdapterError(source, `${MODULE_FILE_AUTHOR_KEY} must be 1 to ${MAX_AUTHOR_LENGTH} characters (got ${author.length})`)
  }
  return author
}

/**
 * The author a module file names, read from its header alone (no tensor is decoded): cheap
 * enough to check who may announce a module before fetching the rest of its blobs.
 */
export function moduleFileAuthor (bytes: Uint8Array, source: string): string | undefined {
  return checkedAuthor(readSafetensorsMetadata(bytes, { source }), source)
}

/** Decodes a module file; `source` names it in errors (a blob CID, a path). */
export function decodeModuleFile (bytes: Uint8Array, source: string): LoraModule {
  const file = decodeSafetensors(bytes, { source })
  if (file.metadata['medforge.format'] !== MODULE_FILE_FORMAT) {
    throw new InvalidAdapterError(source, `not a MedForge module file (metadata medforge.format is ${JSON.stringify(file.metadata['medforge.format'] ?? null)}, expected "${MODULE_FILE_FORMAT}")`)
  }
  const configText = file.metadata[MODULE_FILE_CONFIG_KEY]
  if (configText === undefined) throw new InvalidAdapterError(source, `metadata has no ${MODULE_FILE_CONFIG_KEY}`)
  let json: unknown
  try {
    json = JSON.parse(configText)
  } catch (err) {
    throw new InvalidAdapterError(source, `${MODULE_FILE_CONFIG_KEY} is not JSON: ${(err as Error).message}`)
  }
  const config = parseLoraConfig(json, `${source} ${MODULE_FILE_CONFIG_KEY}`)
  refuseNetworkPatterns(config, file.tensors.keys(), source)
  const author = checkedAuthor(file.metadata, source)
  const module = loraModuleFromTensors(config, file.tensors, source)
  return author === undefined ? module : { ...module, author }
}

/** The longest tensor name a module file may carry (PEFT's names for real models stay far below). */
export const MAX_TENSOR_NAME = 512

/**
 * What a module from the network may not carry: patterns that PEFT reads as regular expressions
 * (rank_pattern, alpha_pattern, a string target_modules) would have this node compile and run a
 * peer's regex against names the peer chose too (catastrophic backtracking froze daemons); and
 * unbounded tensor names. Checked before anything else is done with the module.
 */
export function refuseNetworkPatterns (config: LoraConfig, tensorNames: Iterable<string>, source: string): void {
  const fail = (detail: string): never => { throw new InvalidAdapterError(source, detail) }
  if (Object.keys(config.rankPattern).length > 0) fail('rank_pattern is not allowed in a network module (every layer has the network\'s rank)')
  if (Object.keys(config.alphaPattern).length > 0) fail('alpha_pattern is not allowed in a network module (every layer has the network\'s alpha)')
  if (typeof config.targetModules === 'string') fail('target_modules must be a list of module names in a network module, not a regular expression')
  for (const name of tensorNames) if (name.length > MAX_TENSOR_NAME) fail(`tensor name of ${name.length} characters (the limit is ${MAX_TENSOR_NAME})`)
}
