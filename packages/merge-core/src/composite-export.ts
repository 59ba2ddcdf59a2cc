// Writes a merge result as a folder: the composite as a PEFT adapter (LoRA factors only), each
// input's task head under task_heads/<module CID>.safetensors, and medforge-composite.json with
// the state root, method, canonical input order and searched coefficients. Only content-derived
// values are written, so the same module set gives the same bytes whatever order it came in.
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { canonicalJson } from './canonical-json.ts'
import { headCid } from './lora-module.ts'
import { writeAtomically, writePeftAdapter } from './peft-adapter.ts'
import type { MergeResult } from './merge/merge.ts'
import { encodeSafetensors } from './safetensors.ts'

export const COMPOSITE_MANIFEST = 'medforge-composite.json'

export function compositeDescription (result: MergeResult): Record<string, unknown> {
  return {
    engineVersion: result.engineVersion,
    stateRoot: result.stateRoot,
    method: result.method,
    composite: result.composite.kind,
    inputs: result.inputs.map((input, i) => ({
      cid: input.cid,
      height: input.height,
      ...(input.task === undefined ? {} : { task: input.task }),
      ...(result.weights === undefined ? {} : { weight: Math.fround(result.weights[i]!) }),
      ...(input.module.heads.size === 0 ? {} : { headCid: headCid(input.module), head: `task_heads/${input.cid}.safetensors` })
    })),
    ...(result.steps === undefined ? {} : { steps: result.steps.map(s => ({ cid: s.cid, coefficients: s.coefficients, evaluations: s.evaluations, ...(Number.isFinite(s.loss) ? { loss: s.loss } : {}) })) })
  }
}

export function writeComposite (dir: string, result: MergeResult): void {
  mkdirSync(dir, { recursive: true })
  // These folders are this function's own: a reused --out must not keep an earlier merge's files.
  for (const owned of ['task_heads', 'modules']) rmSync(join(dir, owned), { recursive: true, force: true })
  const provenance = { 'medforge.state_root': result.stateRoot, 'medforge.engine': result.engineVersion, 'medforge.method': result.method.name }
  if (result.composite.kind === 'adapter') {
    writePeftAdapter(dir, result.composite.module, { includeHeads: false, metadata: provenance, configOverrides: { modules_to_save: null } })
  } else if (result.composite.kind === 'mixture') {
    for (const input of result.inputs) {
      writePeftAdapter(join(dir, 'modules', input.cid), input.module, { includeHeads: false, metadata: provenance, configOverrides: { modules_to_save: null } })
    }
  }
  const withHeads = result.inputs.filter(i => i.module.heads.size > 0)
  if (withHeads.length > 0) mkdirSync(join(dir, 'task_heads'), { recursive: true })
  for (const input of withHeads) {
    writeAtomically(join(dir, 'task_heads', `${input.cid}.safetensors`), encodeSafetensors(input.module.heads, { metadata: { format: 'pt', 'medforge.module': input.cid } }))
  }
  writeAtomically(join(dir, COMPOSITE_MANIFEST), JSON.stringify(JSON.parse(canonicalJson(compositeDescription(result))), null, 2) + '\n')
}
