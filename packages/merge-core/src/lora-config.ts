// The PEFT `adapter_config.json` of a LoRA adapter: parsing with validation, normalisation for
// identity and compatibility checks, and serialisation in PEFT's own style.
import { InvalidAdapterError } from './errors.ts'
import type { JsonValue } from './canonical-json.ts'

export interface LoraConfig {
  readonly baseModel: string
  readonly r: number
  readonly loraAlpha: number
  /** A list of module-name suffixes, or one regular expression, as PEFT allows. */
  readonly targetModules: readonly string[] | string
  readonly useRslora: boolean
  readonly fanInFanOut: boolean
  readonly rankPattern: Readonly<Record<string, number>>
  readonly alphaPattern: Readonly<Record<string, number>>
  readonly modulesToSave: readonly string[] | null
  /** Every field as read, so an export keeps what PEFT and other tools wrote. */
  readonly raw: Readonly<Record<string, JsonValue>>
}

export function parseLoraConfig (json: unknown, source: string): LoraConfig {
  const fail = (detail: string): never => { throw new InvalidAdapterError(source, detail) }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail('adapter_config.json is not a JSON object')
  const c = json as Record<string, JsonValue>
  if (c.peft_type !== 'LORA') fail(`peft_type is ${JSON.stringify(c.peft_type)}, only "LORA" is supported`)
  if (c.use_dora === true) fail('use_dora is true: DoRA magnitude vectors cannot be merged as LoRA factors')
  if (c.bias !== undefined && c.bias !== null && c.bias !== 'none') fail(`bias is ${JSON.stringify(c.bias)}: only "none" is supported`)
  if (!Number.isSafeInteger(c.r) || (c.r as number) <= 0) fail(`r must be a positive integer, got ${JSON.stringify(c.r)}`)
  const alpha = c.lora_alpha ?? 8 // PEFT's default when absent
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha <= 0) fail(`lora_alpha must be a positive number, got ${JSON.stringify(alpha)}`)
  const tm = c.target_modules
  let targetModules: readonly string[] | string
  if (typeof tm === 'string' && tm.length > 0) targetModules = tm
  else if (Array.isArray(tm) && tm.length > 0 && tm.every(t => typeof t === 'string' && t.length > 0)) targetModules = [...new Set(tm as string[])].sort()
  else return fail('target_modules must be a non-empty list of module names or a regular expression string')
  const pattern = (field: string): Record<string, number> => {
    const v = c[field]
    if (v === undefined || v === null) return {}
    if (typeof v !== 'object' || Array.isArray(v)) return fail(`${field} must be an object`)
    for (const [k, n] of Object.entries(v)) {
      if (typeof n !== 'number' || !(n > 0)) fail(`${field}["${k}"] must be a positive number`)
    }
    return v as Record<string, number>
  }
  const mts = c.modules_to_save
  if (mts !== undefined && mts !== null && !(Array.isArray(mts) && mts.every(m => typeof m === 'string'))) {
    fail('modules_to_save must be null or a list of module names')
  }
  const base = c.base_model_name_or_path
  if (base !== undefined && base !== null && typeof base !== 'string') fail('base_model_name_or_path must be a string')
  return {
    baseModel: (base as string | null | undefined) ?? '',
    r: c.r as number,
    loraAlpha: alpha as number,
    targetModules,
    useRslora: c.use_rslora === true,
    fanInFanOut: c.fan_in_fan_out === true,
    rankPattern: pattern('rank_pattern'),
    alphaPattern: pattern('alpha_pattern'),
    modulesToSave: (mts as string[] | null | undefined) ?? null,
    raw: { ...c }
  }
}

/**
 * The fields that change what the adapter computes. Two adapters with equal identity configs and
 * equal LoRA tensors are the same module, whatever else their config files say.
 */
export function identityConfig (config: LoraConfig): Record<string, JsonValue> {
  return {
    peft_type: 'LORA',
    base_model_name_or_path: config.baseModel,
    r: config.r,
    lora_alpha: config.loraAlpha,
    target_modules: typeof config.targetModules === 'string' ? config.targetModules : [...config.targetModules],
    use_rslora: config.useRslora,
    fan_in_fan_out: config.fanInFanOut,
    rank_pattern: { ...config.rankPattern },
    alpha_pattern: { ...config.alphaPattern }
  }
}

/** The LoRA scaling PEFT applies to B·A for a layer without a pattern override. */
export function loraScaling (config: LoraConfig): number {
  return config.useRslora ? config.loraAlpha / Math.sqrt(config.r) : config.loraAlpha / config.r
}

export interface NewConfigOptions {
  readonly baseModel: string
  readonly r: number
  readonly loraAlpha: number
  readonly targetModules: readonly string[]
  readonly modulesToSave?: readonly string[] | null
}

/** A config exactly as PEFT's LoraConfig writes it with defaults, for adapters made by MedForge. */
export function newLoraConfig (options: NewConfigOptions): LoraConfig {
  const raw: Record<string, JsonValue> = {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: options.baseModel,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: options.loraAlpha,
    lora_dropout: 0,
    modules_to_save: options.modulesToSave === undefined || options.modulesToSave === null ? null : [...options.modulesToSave],
    peft_type: 'LORA',
    r: options.r,
    rank_pattern: {},
    revision: null,
    target_modules: [...options.targetModules],
    task_type: null,
    use_dora: false,
    use_rslora: false
  }
  return parseLoraConfig(raw, '<new config>')
}

/**
 * The same adapter config at another rank and alpha, with no per-layer patterns and plain (not
 * rank-stabilised) scaling: the config of a composite whose factors were concatenated.
 */
export function withRank (config: LoraConfig, r: number, loraAlpha: number): LoraConfig {
  return parseLoraConfig({ ...config.raw, r, lora_alpha: loraAlpha, use_rslora: false, rank_pattern: {}, alpha_pattern: {} }, '<composite config>')
}

/** Serialises like PEFT's save_pretrained: sorted keys, two-space indent. */
export function serializeLoraConfig (config: LoraConfig, overrides: Record<string, JsonValue> = {}): string {
  const merged: Record<string, JsonValue> = { ...config.raw, ...overrides }
  const sorted: Record<string, JsonValue> = {}
  for (const k of Object.keys(merged).sort()) sorted[k] = merged[k]!
  return JSON.stringify(sorted, null, 2)
}
