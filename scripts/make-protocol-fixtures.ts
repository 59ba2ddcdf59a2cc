// Regenerates the protocol's golden byte vectors. Only for a deliberate encoding change (bump the
// record's /vN); the tests compare against the committed file.
//   node scripts/make-protocol-fixtures.ts
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { encodeBlobRequest, encodeBlobResponseHeader, encodeCanonical, encodeGossipEnvelope, encodePeerAdvert, encodeRecord, encodeSyncInventory, encodeSyncRecords, encodeSyncRequest, manifestCid, recordCid } from '@medforge/protocol'
import { genesis, identities, sampleEnvelope, samplePeerAdvert, sampleRecords } from '../packages/protocol/test/samples.ts'

const ids = await identities()
const { announcement, attestation, revocation, revision } = await sampleRecords(ids)
const g = await genesis(ids)
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const golden = {
  peerIds: ids.map(i => i.peerId),
  manifestBody: hex(encodeCanonical(g.body)),
  manifestCid: manifestCid(g.body),
  manifestSignatures: g.signatures,
  moduleAnnouncement: hex(encodeRecord(announcement)),
  stateAttestation: hex(encodeRecord(attestation)),
  revocation: hex(encodeRecord(revocation)),
  manifestRevision: hex(encodeRecord(revision)),
  blobRequest: hex(encodeBlobRequest({ cid: announcement.moduleBlob })),
  blobResponseHeader: hex(encodeBlobResponseHeader({ status: 'not_found', size: 0, message: 'no such blob' })),
  syncRequest: hex(encodeSyncRequest({ want: 'ids', network: announcement.network, after: 17, limit: 64 })),
  syncInventory: hex(encodeSyncInventory({ ids: [recordCid(announcement), recordCid(attestation)], next: 18 })),
  syncRecordsRequest: hex(encodeSyncRequest({ want: 'records', network: announcement.network, ids: [recordCid(attestation)] })),
  syncRecords: hex(encodeSyncRecords({ records: [encodeRecord(attestation)] })),
  peerAdvert: hex(encodePeerAdvert(samplePeerAdvert(ids))),
  gossipEnvelope: hex(encodeGossipEnvelope((await sampleEnvelope(ids)).envelope))
}
writeFileSync(join(import.meta.dirname, '..', 'packages', 'protocol', 'test', 'fixtures', 'golden.json'), JSON.stringify(golden, null, 2) + '\n')
console.log('wrote packages/protocol/test/fixtures/golden.json')
