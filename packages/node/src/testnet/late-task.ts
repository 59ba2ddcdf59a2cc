// `medforge testnet --late-task`: the network grows while it runs. Once the founding sites have
// converged, a revision signed by a quorum of them adds a colour, multi-class task and a new
// institution; it is handed to one daemon and reaches the others by gossip; the newcomer joins
// with the revised chain, starts its daemon, trains on its own images and publishes. The
// repository has no colour medical data, so the newcomer's images are generated (a learnable
// signal, RetinaMNIST's shape and split sizes); a real site brings its own folder or .npz.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { syntheticColourNpz } from '@medforge/clinical'
import { encodeManifestFile, manifestCid, signManifest } from '@medforge/protocol'
import type { Identity, SignedManifest, TaskSpec } from '@medforge/protocol'
import { DataDir } from '../store/data-dir.ts'
import { waitFor } from './convergence.ts'
import type { DaemonProcess } from './daemon-process.ts'
import { siteDirName, siteKeySeed } from './local-network.ts'

export const LATE_TASK: TaskSpec = {
  id: 'fundus',
  modality: 'fundus-photo (generated)',
  labels: ['grade-0', 'grade-1', 'grade-2', 'grade-3', 'grade-4'],
  metric: 'auc',
  input: { channels: 3, size: 28 }
}
export const LATE_SITE_NAME = 'Eye Clinic K'

export interface LateSite {
  readonly name: string
  readonly dir: string
  readonly data: string
  readonly revision: SignedManifest
}

/**
 * Prepares the newcomer (key, data directory, its images), writes the revision that adds it and
 * the task, signs it with `signers` (a quorum of the founders), hands it to `via` and waits until
 * every founding daemon runs it. The newcomer then joins with the revised chain.
 */
export async function addLateSite (options: { base: string, keySeed?: string, network: string, chain: readonly SignedManifest[], signers: readonly Identity[], via: DaemonProcess, founders: readonly DaemonProcess[] }): Promise<LateSite> {
  const dataDir = new DataDir(join(options.base, siteDirName(LATE_SITE_NAME)))
  const identity = await dataDir.init(LATE_SITE_NAME, { listen: ['/ip4/127.0.0.1/tcp/0'], api: '127.0.0.1:0' }, options.keySeed === undefined ? undefined : siteKeySeed(options.keySeed, LATE_SITE_NAME))
  const data = join(dataDir.dir, 'fundus.npz')
  writeFileSync(data, syntheticColourNpz({ classes: LATE_TASK.labels.length, counts: { train: 1080, val: 120, test: 400 }, seed: 'testnet late site' }))
  const current = options.chain.at(-1)!.body
  let revision: SignedManifest = {
    body: {
      ...current,
      revision: current.revision + 1,
      network: options.network,
      parent: manifestCid(current),
      tasks: [...current.tasks, LATE_TASK],
      members: [...current.members, { peerId: identity.peerId, name: LATE_SITE_NAME, roles: ['contributor'] }],
      createdAt: Date.now()
    },
    signatures: []
  }
  for (const signer of options.signers) revision = await signManifest(revision, signer)
  const res = await options.via.post('/network/revision', JSON.parse(encodeManifestFile(revision)))
  if (res.status !== 200) throw new Error(`the revision adding ${LATE_TASK.id} was refused: ${JSON.stringify(res.body)}`)
  await waitFor('every founding daemon on the new revision', async () =>
    (await Promise.all(options.founders.map(async d => (await d.get('/status')).networks[0].revision as number))).every(r => r === revision.body.revision) ? true : undefined, 60_000)
  dataDir.saveChain(options.network, [...options.chain, revision])
  dataDir.writeConfig({ ...dataDir.config(), networks: [options.network] })
  return { name: LATE_SITE_NAME, dir: dataDir.dir, data, revision }
}
