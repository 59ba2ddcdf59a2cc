// npm run fuzz — every decoder fed at least 100,000 random and mutated inputs with fast-check:
// no crash, no hang, only the decoder's own typed errors. Prints a table for RELIABILITY.md.
//   node scripts/fuzz.ts [--runs N]
import { parseArgs } from 'node:util'
import fc from 'fast-check'
import { InvalidAdapterError, InvalidDistilledSetError, InvalidSafetensorsError, ToyModel, decodeDistilledSet, decodeModuleFile, decodeSafetensors, encodeDistilledSet, encodeModuleFile, encodeSafetensors } from '@medforge/merge-core'
import { InvalidNpzError, encodeNpz, parseNpz } from '@medforge/clinical'
import {
  MalformedError, TooLargeError, addRevocationSignature, newIdentity, validateRevocation, decodeBlobRequest, decodeBlobResponseHeader, decodeFrame, decodeManifestFile, decodePeerAdvert, decodeRecord, decodeSyncRequest,
  decodeSyncInventory, decodeSyncRecords, decodeGossipEnvelope, encodeGossipEnvelope, encodeBlobRequest, encodeBlobResponseHeader, encodeFrame, encodeManifestFile, encodePeerAdvert, encodeRecord, encodeSyncInventory, encodeSyncRecords, encodeSyncRequest, recordCid
} from '@medforge/protocol'
import type { ValidationContext } from '@medforge/protocol'
import { genesis, genesisBody, identities, sampleEnvelope, samplePeerAdvert, sampleRecords } from '../packages/protocol/test/samples.ts'

const { values } = parseArgs({ options: { runs: { type: 'string' } } })
const runs = Number(values.runs ?? 100_000)
const ids = await identities()
const records = await sampleRecords(ids)
const model = new ToyModel()
const module = model.train('a', model.makeData('a', 16, 'fuzz'), { epochs: 3, seed: 'fuzz' })
const d = model.makeData('a', 4, 'fuzz-d')
const protocolTyped = (e: unknown): boolean => e instanceof MalformedError || e instanceof TooLargeError
const coreTyped = (e: unknown): boolean => e instanceof InvalidSafetensorsError || e instanceof InvalidAdapterError || e instanceof InvalidDistilledSetError || e instanceof InvalidNpzError

interface Target { name: string, seeds: Uint8Array[], decode: (b: Uint8Array) => unknown, typed: (e: unknown) => boolean, arbitrary?: fc.Arbitrary<Uint8Array> }

/**
 * Module files whose config and tensors a hostile member chose: regex-looking rank_pattern and
 * alpha_pattern keys, target_modules as a string, long layer names, magnitudes from tiny to 1e38,
 * NaN and infinities. Decoding must refuse every pattern without compiling it (no slow case).
 */
const hostileModules: fc.Arbitrary<Uint8Array> = fc.record({
  rankPattern: fc.dictionary(fc.oneof(fc.constantFrom('(a+)+b', '(a|a)*$', '.*.*.*=', 'encoder', '(x+x+)+y'), fc.string()), fc.integer({ min: 1, max: 8 }), { maxKeys: 3 }),
  alphaPattern: fc.dictionary(fc.string(), fc.integer({ min: 1, max: 16 }), { maxKeys: 2 }),
  targets: fc.oneof(fc.constant(['encoder']), fc.constantFrom('(encoder)+', '.*'), fc.array(fc.string(), { maxLength: 3 })),
  layer: fc.oneof(fc.constant('base_model.model.encoder'), fc.string({ unit: fc.constantFrom('a', 'x', '.'), minLength: 1, maxLength: 700 })),
  value: fc.constantFrom(0.01, 1e4, 1e5, 1e20, 3.4e38, NaN, Infinity, -Infinity)
}).map(h => encodeSafetensors(new Map([
  [`${h.layer}.lora_A.weight`, { shape: [2, 8], data: new Float32Array(16).fill(h.value) }],
  [`${h.layer}.lora_B.weight`, { shape: [6, 2], data: new Float32Array(12).fill(0.01) }]
]), { metadata: { 'medforge.format': 'medforge-module/v1', 'medforge.lora_config': JSON.stringify({ peft_type: 'LORA', r: 2, lora_alpha: 4, target_modules: h.targets, rank_pattern: h.rankPattern, alpha_pattern: h.alphaPattern }) } }))
/** A frame's payload (its length prefix is one or more bytes). */
const payload = (frame: Uint8Array): Uint8Array => decodeFrame(frame, 1 << 20).payload
const targets: Target[] = [
  { name: 'records (DAG-CBOR)', seeds: [encodeRecord(records.announcement), encodeRecord(records.attestation), encodeRecord(records.revocation), encodeRecord(records.revision)], decode: decodeRecord, typed: protocolTyped },
  { name: 'stream frames', seeds: [encodeFrame(new Uint8Array(40).fill(7)), encodeBlobRequest({ cid: records.announcement.moduleBlob })], decode: b => decodeFrame(b, 4096), typed: protocolTyped },
  { name: 'blob request', seeds: [encodeBlobRequest({ cid: records.announcement.moduleBlob }).subarray(1)], decode: decodeBlobRequest, typed: protocolTyped },
  { name: 'blob response header', seeds: [encodeBlobResponseHeader({ status: 'ok', size: 12, message: '' }).subarray(1)], decode: decodeBlobResponseHeader, typed: protocolTyped },
  { name: 'sync request', seeds: [payload(encodeSyncRequest({ want: 'ids', network: records.network, after: 3, limit: 10 })), payload(encodeSyncRequest({ want: 'records', network: records.network, ids: [recordCid(records.attestation)] }))], decode: decodeSyncRequest, typed: protocolTyped },
  { name: 'sync inventory', seeds: [payload(encodeSyncInventory({ ids: [recordCid(records.announcement), recordCid(records.attestation)], next: 4 }))], decode: decodeSyncInventory, typed: protocolTyped },
  { name: 'sync records', seeds: [payload(encodeSyncRecords({ records: [encodeRecord(records.attestation)] }))], decode: b => decodeSyncRecords(b, 4096), typed: protocolTyped },
  { name: 'peer advert', seeds: [encodePeerAdvert(samplePeerAdvert(ids))], decode: decodePeerAdvert, typed: protocolTyped },
  { name: 'gossip envelope', seeds: [encodeGossipEnvelope((await sampleEnvelope(ids)).envelope), encodeGossipEnvelope({ record: encodeRecord(records.attestation), blobs: [] })], decode: b => decodeGossipEnvelope(b, 4096), typed: protocolTyped },
  { name: 'manifest file (JSON)', seeds: [new TextEncoder().encode(encodeManifestFile(await genesis(ids)))], decode: b => decodeManifestFile(new TextDecoder().decode(b)), typed: e => e instanceof MalformedError },
  { name: 'safetensors', seeds: [encodeSafetensors(new Map([['a', { shape: [2, 3], data: Float32Array.of(1, 2, 3, 4, 5, 6) }], ['b', { shape: [1], data: Float32Array.of(9) }]]), { metadata: { k: 'v' } })], decode: b => decodeSafetensors(b, { source: 'fuzz' }), typed: coreTyped },
  { name: 'module file', seeds: [encodeModuleFile(module)], decode: b => decodeModuleFile(b, 'fuzz'), typed: coreTyped },
  { name: 'module file, hostile configs and values', seeds: [], arbitrary: hostileModules, decode: b => decodeModuleFile(b, 'fuzz'), typed: coreTyped },
  { name: 'distilled set', seeds: [encodeDistilledSet({ task: 'a', inputs: { shape: [4, model.spec.inputs], data: d.x }, labels: d.y })], decode: b => decodeDistilledSet(b, 'fuzz', { classes: 2 }), typed: coreTyped },
  { name: 'npz', seeds: [encodeNpz(new Map([['x', { dtype: 'u1' as const, shape: [3, 4], data: new Uint8Array(12).fill(5) }], ['y', { dtype: 'f4' as const, shape: [2], data: Float32Array.of(1, 2) }]]))], decode: b => parseNpz(b, 'fuzz'), typed: coreTyped }
]

/** Random bytes, and seeds with 1-4 bytes overwritten, truncated, or extended. */
function inputs (seeds: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }) },
    {
      weight: 4,
      arbitrary: fc.tuple(fc.constantFrom(...seeds), fc.constantFrom('edit', 'cut', 'extend', 'edit+cut'), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 16 }))
        .map(([s, how, edits, cut, tail]) => {
          let b = Uint8Array.from(s)
          if (how.startsWith('edit')) for (const [at, v] of edits) b[at % b.length] = v
          if (how.endsWith('cut')) b = b.subarray(0, cut % b.length)
          if (how === 'extend') b = Uint8Array.from([...b, ...tail])
          return b
        })
    }
  )
}

const rows: string[] = []
let failed = false
for (const t of targets) {
  const t0 = performance.now()
  let slowest = 0
  let typedErrors = 0
  try {
    fc.assert(fc.property(t.arbitrary ?? inputs(t.seeds), b => {
      const s = performance.now()
      try { t.decode(b) } catch (e) {
        if (!t.typed(e)) throw e
        typedErrors++
      }
      slowest = Math.max(slowest, performance.now() - s)
    }), { numRuns: runs })
  } catch (err) {
    failed = true
    console.error(`${t.name}: ${(err as Error).message.split('\n').slice(0, 6).join('\n')}`)
  }
  const seconds = (performance.now() - t0) / 1000
  const row = `| ${t.name} | ${runs.toLocaleString('en')} | ${typedErrors.toLocaleString('en')} | ${(runs - typedErrors).toLocaleString('en')} | ${slowest.toFixed(1)} | ${seconds.toFixed(2)} | ${failed ? 'FAILED' : 'ok'} |`
  rows.push(row)
  console.log(row)
}
// Revocation signature lists: reordered, repeated, a stranger's or a forged signature added. Only
// the canonical list (sorted, each member once, every signature valid) may be accepted.
{
  const t0 = performance.now()
  const stranger = await newIdentity()
  const quorum = await addRevocationSignature(await addRevocationSignature({ ...records.revocation, moduleAuthor: ids[2]!.peerId, signatures: [] }, ids[0]!), ids[1]!)
  const extra = (await addRevocationSignature(quorum, stranger)).signatures.find(x => x.peerId === stranger.peerId)!
  const ctx = (): ValidationContext => ({
    network: records.network, members: new Map(genesisBody(ids).members.map(m => [m.peerId, m])), revoked: new Set(), quorum: 2, tasks: new Set(['pneumonia', 'breast']),
    maxMessageBytes: 65536, now: records.revocation.createdAt, isKnownRecord: () => false, rootHeight: () => 0
  })
  const canonical = (sigs: readonly { peerId: string }[]): boolean => sigs.every((x, i) => i === 0 || sigs[i - 1]!.peerId < x.peerId)
  let accepted = 0
  const cases = Math.min(runs, 5000)
  try {
    await fc.assert(fc.asyncProperty(fc.array(fc.constantFrom(0, 1, 2, 3), { maxLength: 5 }), fc.boolean(), async (picks, forge) => {
      const pool = [quorum.signatures[0]!, quorum.signatures[1]!, extra, { peerId: ids[0]!.peerId, signature: new Uint8Array(64).fill(7) }]
      const signatures = picks.map(i => pool[i]!)
      if (forge && signatures.length > 0) signatures[0] = { ...signatures[0]!, signature: new Uint8Array(64) }
      const r = await validateRevocation(encodeRecord({ ...quorum, signatures }), ctx())
      if (r.verdict === 'accept') {
        accepted++
        if (!(canonical(signatures) && signatures.length >= 2 && signatures.every(x => x.peerId !== stranger.peerId) && !forge && picks.every(i => i < 2))) throw new Error(`accepted a non-canonical list: ${picks.join(',')} forge=${String(forge)}`)
      }
    }), { numRuns: cases })
    rows.push(`| revocation signature lists | ${cases.toLocaleString('en')} | ${(cases - accepted).toLocaleString('en')} refused | ${accepted.toLocaleString('en')} accepted (canonical) | – | ${((performance.now() - t0) / 1000).toFixed(2)} | ok |`)
  } catch (err) {
    failed = true
    console.error(`revocation signature lists: ${(err as Error).message.split('\n').slice(0, 6).join('\n')}`)
  }
}
console.log('\n| decoder | cases | typed errors | decoded | slowest case ms | total s | result |\n|---|---|---|---|---|---|---|\n' + rows.join('\n'))
if (failed) process.exitCode = 1
