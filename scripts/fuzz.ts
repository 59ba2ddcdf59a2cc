// npm run fuzz — every decoder fed at least 100,000 random and mutated inputs with fast-check:
// no crash, no hang, only the decoder's own typed errors. Prints a table for RELIABILITY.md.
//   node scripts/fuzz.ts [--runs N]
import { parseArgs } from 'node:util'
import fc from 'fast-check'
import { InvalidAdapterError, InvalidDistilledSetError, InvalidSafetensorsError, ToyModel, decodeDistilledSet, decodeModuleFile, decodeSafetensors, encodeDistilledSet, encodeModuleFile, encodeSafetensors } from '@medforge/merge-core'
import { InvalidNpzError, encodeNpz, parseNpz } from '@medforge/clinical'
import {
  MalformedError, TooLargeError, decodeBlobRequest, decodeBlobResponseHeader, decodeFrame, decodeManifestFile, decodePeerAdvert, decodeRecord, decodeSyncRequest,
  decodeSyncResponse, encodeBlobRequest, encodeBlobResponseHeader, encodeFrame, encodeManifestFile, encodePeerAdvert, encodeRecord, encodeSyncRequest, encodeSyncResponse
} from '@medforge/protocol'
import { genesis, identities, samplePeerAdvert, sampleRecords } from '../packages/protocol/test/samples.ts'

const { values } = parseArgs({ options: { runs: { type: 'string' } } })
const runs = Number(values.runs ?? 100_000)
const ids = await identities()
const records = await sampleRecords(ids)
const model = new ToyModel()
const module = model.train('a', model.makeData('a', 16, 'fuzz'), { epochs: 3, seed: 'fuzz' })
const d = model.makeData('a', 4, 'fuzz-d')
const protocolTyped = (e: unknown): boolean => e instanceof MalformedError || e instanceof TooLargeError
const coreTyped = (e: unknown): boolean => e instanceof InvalidSafetensorsError || e instanceof InvalidAdapterError || e instanceof InvalidDistilledSetError || e instanceof InvalidNpzError

interface Target { name: string, seeds: Uint8Array[], decode: (b: Uint8Array) => unknown, typed: (e: unknown) => boolean }
const targets: Target[] = [
  { name: 'records (DAG-CBOR)', seeds: [encodeRecord(records.announcement), encodeRecord(records.attestation), encodeRecord(records.revocation)], decode: decodeRecord, typed: protocolTyped },
  { name: 'stream frames', seeds: [encodeFrame(new Uint8Array(40).fill(7)), encodeBlobRequest({ cid: records.announcement.moduleBlob })], decode: b => decodeFrame(b, 4096), typed: protocolTyped },
  { name: 'blob request', seeds: [encodeBlobRequest({ cid: records.announcement.moduleBlob }).subarray(1)], decode: decodeBlobRequest, typed: protocolTyped },
  { name: 'blob response header', seeds: [encodeBlobResponseHeader({ status: 'ok', size: 12, message: '' }).subarray(1)], decode: decodeBlobResponseHeader, typed: protocolTyped },
  { name: 'sync request', seeds: [encodeSyncRequest({ network: records.network, after: 3, limit: 10 }).subarray(1)], decode: decodeSyncRequest, typed: protocolTyped },
  { name: 'sync response', seeds: [encodeSyncResponse({ records: [encodeRecord(records.attestation)], next: 4 }).subarray(2)], decode: b => decodeSyncResponse(b, 4096), typed: protocolTyped },
  { name: 'peer advert', seeds: [encodePeerAdvert(samplePeerAdvert(ids))], decode: decodePeerAdvert, typed: protocolTyped },
  { name: 'manifest file (JSON)', seeds: [new TextEncoder().encode(encodeManifestFile(await genesis(ids)))], decode: b => decodeManifestFile(new TextDecoder().decode(b)), typed: e => e instanceof MalformedError },
  { name: 'safetensors', seeds: [encodeSafetensors(new Map([['a', { shape: [2, 3], data: Float32Array.of(1, 2, 3, 4, 5, 6) }], ['b', { shape: [1], data: Float32Array.of(9) }]]), { metadata: { k: 'v' } })], decode: b => decodeSafetensors(b, { source: 'fuzz' }), typed: coreTyped },
  { name: 'module file', seeds: [encodeModuleFile(module)], decode: b => decodeModuleFile(b, 'fuzz'), typed: coreTyped },
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
    fc.assert(fc.property(inputs(t.seeds), b => {
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
console.log('\n| decoder | cases | typed errors | decoded | slowest case ms | total s | result |\n|---|---|---|---|---|---|---|\n' + rows.join('\n'))
if (failed) process.exitCode = 1
