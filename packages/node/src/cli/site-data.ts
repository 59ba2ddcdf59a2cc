// The task a clinical command works on and the site's data for it. The task comes from a
// network's registry (--manifest NET.json, or a joined daemon's --data-dir), or, for the demo,
// from the built-in MedMNIST tasks; the data from the site's own files (--data PATH: a folder of
// class folders or a MedMNIST-format .npz) or a demo shard of the vendored data (--site I/N).
import { readFileSync } from 'node:fs'
import { CLINICAL_TASKS, VIT_TINY, loadDataset, siteShard } from '@medforge/clinical'
import type { SiteDataset } from '@medforge/clinical'
import { decodeManifestFile, verifyManifestChain } from '@medforge/protocol'
import type { ManifestBody, TaskSpec } from '@medforge/protocol'
import { DataDir } from '../store/data-dir.ts'
import { UsageError } from './usage-error.ts'

export interface SiteTask {
  readonly id: string
  readonly labels: readonly string[]
  /** 1 (grey) or 3 (RGB). */
  readonly channels: number
  readonly side: number
  /** The published MedMNIST v2 ResNet-18 (28) test numbers, for the demo tasks. */
  readonly baseline?: { readonly auc: number, readonly acc: number }
}

export const TASK_OPTIONS = {
  task: { type: 'string' }, manifest: { type: 'string' }, 'data-dir': { type: 'string' }
} as const

async function registryOf (values: { manifest?: string | undefined, 'data-dir'?: string | undefined }): Promise<ManifestBody | undefined> {
  if (values.manifest !== undefined) {
    let text: string
    try {
      text = readFileSync(values.manifest, 'utf8')
    } catch (err) {
      throw new UsageError(`cannot read --manifest ${values.manifest}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
    return decodeManifestFile(text).body
  }
  if (values['data-dir'] !== undefined) {
    const dataDir = new DataDir(values['data-dir'])
    dataDir.requireInitialised()
    const networks = dataDir.config().networks
    if (networks.length !== 1) throw new UsageError(`${values['data-dir']} has joined ${networks.length} networks; name one with --manifest`)
    return (await verifyManifestChain(dataDir.loadChain(networks[0]!))).current
  }
  return undefined
}

function fromSpec (t: TaskSpec): SiteTask {
  return { id: t.id, labels: t.labels, channels: t.input?.channels ?? 1, side: t.input?.size ?? VIT_TINY.imageSize, ...(CLINICAL_TASKS.has(t.id) ? { baseline: CLINICAL_TASKS.get(t.id)!.baseline } : {}) }
}

/** The task named by --task, from the network's registry when one is given, else a demo task. */
export async function resolveTask (values: { task?: string | undefined, manifest?: string | undefined, 'data-dir'?: string | undefined }): Promise<SiteTask> {
  if (values.task === undefined) throw new UsageError('--task T is required')
  const registry = await registryOf(values)
  if (registry !== undefined) {
    const spec = registry.tasks.find(t => t.id === values.task)
    if (spec === undefined) throw new UsageError(`network "${registry.name}" has no task "${values.task}" (its tasks: ${registry.tasks.map(t => t.id).join(', ')})`)
    return fromSpec(spec)
  }
  const demo = CLINICAL_TASKS.get(values.task)
  if (demo === undefined) throw new UsageError(`unknown task "${values.task}": give the network's manifest (--manifest NET.json or --data-dir DIR) to use its tasks (the built-in demo tasks: ${[...CLINICAL_TASKS.keys()].join(', ')})`)
  return { id: demo.id, labels: demo.labels, channels: 1, side: VIT_TINY.imageSize, baseline: demo.baseline }
}

/** The site's data: its own files, or a demo shard of the vendored MedMNIST data. */
export function siteData (task: SiteTask, source: { data?: string | undefined, site?: string | undefined, alpha?: number | undefined, seed: string }): SiteDataset {
  if (source.data !== undefined) return loadDataset(source.data, { classes: task.labels, channels: task.channels, side: task.side, seed: source.seed })
  if (source.site === undefined) throw new UsageError('give the site\'s data with --data PATH (a folder of class folders, or a .npz) or a demo shard with --site I/N')
  if (!CLINICAL_TASKS.has(task.id)) throw new UsageError(`--site shards only the built-in demo tasks; task "${task.id}" needs --data PATH`)
  const m = /^(\d+)\/(\d+)$/.exec(source.site)
  if (m === null) throw new UsageError(`--site must be I/N (site I of N, from 0), got "${source.site}"`)
  const shard = siteShard(task.id, Number(m[1]), Number(m[2]), { ...(source.alpha === undefined ? {} : { alpha: source.alpha }), seed: source.seed })
  return { source: `${task.id} demo shard ${source.site}`, format: 'npz', train: shard.train, val: shard.val, generatedVal: false }
}
