// Fixed identities and records for golden vectors and validation tests. Ed25519 signatures are
// deterministic, so the same seeds give the same bytes everywhere.
import { cidOfBytes } from '@medforge/merge-core'
import { addRevocationSignature, encodeRecord, manifestCid, newIdentity, signManifest, signRecord } from '../src/index.ts'
import type { GossipEnvelope, Identity, ManifestBody, ManifestRevision, ModuleAnnouncement, PeerAdvert, Revocation, SignedManifest, StateAttestation } from '../src/index.ts'

export async function identities (): Promise<Identity[]> {
  return await Promise.all([1, 2, 3, 4].map(i => newIdentity(new Uint8Array(32).fill(i))))
}

export function genesisBody (ids: Identity[]): ManifestBody {
  return {
    protocol: 'medforge/1',
    networkId: 'medforge-testnet',
    name: 'MedForge golden testnet',
    revision: 0,
    network: null,
    parent: null,
    baseModel: { architecture: 'clip-vit-tiny', weights: 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku' },
    tasks: [
      { id: 'pneumonia', modality: 'chest-xray', labels: ['normal', 'pneumonia'], metric: 'auc' },
      { id: 'breast', modality: 'breast-ultrasound', labels: ['malignant', 'benign-or-normal'], metric: 'auc' }
    ],
    lora: { targets: ['q_proj', 'v_proj'], rank: 4, alpha: 8 },
    merge: { method: 'medforge-fusion', params: { budget: 40, regularization: 0.05 } },
    members: ids.slice(0, 3).map((id, i) => ({ peerId: id.peerId, name: `Institution ${i + 1}`, roles: ['contributor'] as const })),
    quorum: 2,
    limits: { maxModuleBytes: 16 * 1024 * 1024, maxMessageBytes: 64 * 1024 },
    bootstrap: ['/ip4/127.0.0.1/tcp/4001'],
    createdAt: 1_790_000_000_000
  }
}

export async function genesis (ids: Identity[]): Promise<SignedManifest> {
  let m: SignedManifest = { body: genesisBody(ids), signatures: [] }
  m = await signManifest(m, ids[0]!)
  return await signManifest(m, ids[1]!)
}

/** Revision 1 of the genesis: a colour 5-class task and a fourth member, signed by a quorum (two). */
export async function sampleRevision (ids: Identity[]): Promise<ManifestRevision> {
  const g = genesisBody(ids)
  const network = manifestCid(g)
  const body: ManifestBody = {
    ...g,
    revision: 1,
    network,
    parent: network,
    tasks: [...g.tasks, { id: 'retina', modality: 'fundus', labels: ['0', '1', '2', '3', '4'], metric: 'auc', input: { channels: 3, size: 28 } }],
    members: [...g.members, { peerId: ids[3]!.peerId, name: 'Institution 4', roles: ['contributor'] }],
    createdAt: 1_790_000_500_000
  }
  const manifest = await signManifest(await signManifest({ body, signatures: [] }, ids[0]!), ids[1]!)
  return { type: 'manifest-revision', network, manifest }
}

export async function sampleRecords (ids: Identity[]): Promise<{ announcement: ModuleAnnouncement, attestation: StateAttestation, revocation: Revocation, revision: ManifestRevision, network: string }> {
  const network = manifestCid(genesisBody(ids))
  const announcement = await signRecord<ModuleAnnouncement>({
    type: 'module-announcement',
    network,
    task: 'pneumonia',
    module: 'bafkreiaxriqnhwwv64crgxoxkheltutyhlpstk4444pifa64qrm6vuc4by',
    moduleBlob: 'bafkreiaj3amgbw2bc25slnaq7uc7rp3qito36cgz6lxd55fmv7fbaexdpq',
    distilled: 'bafkreie6uayyftlnwvg27isdvljybi4zgiedt2pzd4aij7gsmrh2hik4vi',
    head: 'bafkreih7ti72ghpdtvdgjrhrfutkeipmsl7yqnxcujzb5ynqa5ye6kssxu',
    parentRoot: 'bafkreigy6hvgvvchjdxkm3yg4upoi7on2niykflx3t3v3zprmnmy4lvnf4',
    height: 1,
    samples: 1200,
    metrics: { auc: 0.9125, acc: 0.875 },
    createdAt: 1_790_000_100_000
  }, ids[0]!)
  const attestation = await signRecord<StateAttestation>({
    type: 'state-attestation',
    network,
    height: 1,
    modulesHash: new Uint8Array(32).fill(7),
    moduleCount: 1,
    tip: announcement.module,
    stateRoot: 'bafkreibicbmxnis7saaygcyln5oaxndcpo4q6mdubuvra4t6545lav24ha',
    engine: 'medforge-merge/1',
    createdAt: 1_790_000_200_000
  }, ids[1]!)
  const revocation = await addRevocationSignature({
    type: 'revocation',
    network,
    module: announcement.module,
    moduleAuthor: ids[0]!.peerId,
    reason: 'trained on the wrong split',
    createdAt: 1_790_000_300_000
  }, ids[0]!)
  return { announcement, attestation, revocation, revision: await sampleRevision(ids), network }
}

export function samplePeerAdvert (ids: Identity[]): PeerAdvert {
  return { type: 'peer-advert', network: 'bafyreia2ezgr3ud5tzlzvoc4ws3n6chkv2spwclbjsvwqjzvs2ddirmipi', peerId: ids[0]!.peerId, addresses: ['/ip4/127.0.0.1/tcp/4717', '/ip6/::1/tcp/4717'], at: 1_790_000_000_000 }
}

/** The module file and distilled set of `sampleEnvelope` (stand-ins: any bytes whose CIDs the announcement names). */
export const SAMPLE_BLOBS: readonly [Uint8Array, Uint8Array] = [new TextEncoder().encode('safetensors module file'), new TextEncoder().encode('safetensors distilled set')]

/** An announcement naming SAMPLE_BLOBS, gossiped with both attached. */
export async function sampleEnvelope (ids: Identity[]): Promise<{ announcement: ModuleAnnouncement, envelope: GossipEnvelope }> {
  const { announcement: base } = await sampleRecords(ids)
  const { type, author: _author, signature: _signature, ...fields } = base
  const announcement = await signRecord<ModuleAnnouncement>({ ...fields, type, moduleBlob: cidOfBytes(SAMPLE_BLOBS[0]), distilled: cidOfBytes(SAMPLE_BLOBS[1]) }, ids[0]!)
  return { announcement, envelope: { record: encodeRecord(announcement), blobs: [...SAMPLE_BLOBS] } }
}
