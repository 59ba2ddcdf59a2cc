import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Ledger } from '../src/store/ledger.ts'
import { tempDir } from './support.ts'

const row = (over: Partial<Parameters<Ledger['admitModule']>[0]> = {}): Parameters<Ledger['admitModule']>[0] => ({
  network: 'net', cid: 'bafkmodule', recordCid: 'bafyrecord-b', task: 'a', height: 2, author: 'peer-1', moduleBlob: 'bafkblob', distilled: 'bafkdistilled',
  head: null, samples: 10, parentRoot: 'bafkroot', ...over
})

describe('ledger', () => {
  it('is in WAL mode and keeps records in arrival order, once each', () => {
    const path = join(tempDir('ledger'), 'ledger.sqlite')
    const ledger = new Ledger(path)
    assert.equal(ledger.addRecord({ cid: 'r1', network: 'net', type: 'module-announcement', author: 'p', bytes: Uint8Array.of(1) }), true)
    assert.equal(ledger.addRecord({ cid: 'r1', network: 'net', type: 'module-announcement', author: 'p', bytes: Uint8Array.of(1) }), false)
    ledger.addRecord({ cid: 'r2', network: 'net', type: 'state-attestation', author: 'p', bytes: Uint8Array.of(2) })
    ledger.addRecord({ cid: 'r3', network: 'other', type: 'state-attestation', author: 'p', bytes: Uint8Array.of(3) })
    const page = ledger.recordIdsAfter('net', 0, 10)
    assert.deepEqual(page.map(r => r.cid), ['r1', 'r2'])
    assert.deepEqual(ledger.recordIdsAfter('net', page[0]!.seq, 10).map(r => r.cid), ['r2'])
    assert.deepEqual(ledger.recordIdsAfter('net', 0, 1).map(r => r.cid), ['r1'])
    // By CID, in the order asked; an unknown CID and another network's record are left out.
    assert.deepEqual(ledger.recordsById('net', ['r2', 'nope', 'r3', 'r1']).map(b => [...b]), [[2], [1]])
    // The CIDs a sync inventory lists that are not stored, in the order listed (any network's record is known).
    assert.deepEqual(ledger.unknownRecords(['x1', 'r2', 'x2', 'r3', 'r1', 'x1']), ['x1', 'x2', 'x1'])
    assert.deepEqual(ledger.unknownRecords([]), [])
    assert.deepEqual(ledger.unknownRecords(['a"b\\c', "it's"]), ['a"b\\c', "it's"], 'any string is only data to the query')
    ledger.close()
    const reopened = new Ledger(path)
    assert.equal(reopened.recordCount('net'), 2)
    reopened.close()
  })

  it('a module announced twice keeps the announcement with the lower (height, record CID), in any arrival order', () => {
    for (const order of [[0, 1, 2], [2, 1, 0], [1, 2, 0]]) {
      const ledger = new Ledger(join(tempDir('ledger'), 'l.sqlite'))
      const candidates = [row({ height: 3, recordCid: 'bafyrecord-a' }), row({ height: 2, recordCid: 'bafyrecord-c' }), row({ height: 2, recordCid: 'bafyrecord-b' })]
      for (const i of order) {
        const c = candidates[i]!
        // As applyAnnouncement does: every claim is indexed, then competes for the row.
        ledger.indexAnnouncement({ recordCid: c.recordCid, network: c.network, author: c.author, task: c.task, parentRoot: c.parentRoot, height: c.height, module: c.cid })
        ledger.admitModule(c)
      }
      const kept = ledger.getModule('net', 'bafkmodule')!
      assert.deepEqual([kept.height, kept.recordCid], [2, 'bafyrecord-b'], `order ${order.join(',')}`)
      ledger.close()
    }
  })

  it('keeps each author\'s latest attestation, roots with heights, checkpoints and refusal counts', () => {
    const ledger = new Ledger(join(tempDir('ledger'), 'l.sqlite'))
    const att = { network: 'net', author: 'p1', recordCid: 'x', stateRoot: 'root-2', height: 2, moduleCount: 2, createdAt: 200 }
    ledger.putAttestation(att)
    ledger.putAttestation({ ...att, stateRoot: 'root-1', height: 1, createdAt: 100 })
    assert.equal(ledger.attestations('net')[0]!.stateRoot, 'root-2', 'an older attestation does not replace a newer one')
    assert.equal(ledger.addRoot('net', 'root-2', 2), true)
    assert.equal(ledger.addRoot('net', 'root-2', 2), false)
    // A height this node computed wins over any attested claim (issue 14, finding 4).
    assert.equal(ledger.addRoot('net', 'root-3', 99), true)
    assert.equal(ledger.rootHeight('net', 'root-3'), 99)
    assert.equal(ledger.rootComputed('net', 'root-3'), false)
    assert.equal(ledger.addComputedRoot('net', 'root-3', 3), true)
    assert.equal(ledger.rootHeight('net', 'root-3'), 3)
    assert.equal(ledger.rootComputed('net', 'root-3'), true)
    assert.equal(ledger.addComputedRoot('net', 'root-3', 3), false)
    assert.equal(ledger.rootHeight('net', 'root-2'), 2)
    assert.equal(ledger.rootHeight('net', 'unknown'), undefined)
    ledger.countRefusal('net', 'bad_signature')
    ledger.countRefusal('net', 'bad_signature')
    ledger.countRefusal('net', 'not_a_member')
    assert.deepEqual(ledger.refusals('net'), { bad_signature: 2, not_a_member: 1 })
    ledger.putCheckpoint({ network: 'net', prefix: 'p', count: 1, blob: 'b', steps: '[]' })
    assert.equal(ledger.getCheckpoint('net', 'p')?.blob, 'b')
    ledger.close()
  })

  it('a failing transaction leaves nothing behind', () => {
    const ledger = new Ledger(join(tempDir('ledger'), 'l.sqlite'))
    assert.throws(() => ledger.transaction(() => {
      ledger.addRecord({ cid: 'r1', network: 'net', type: 't', author: 'p', bytes: Uint8Array.of(1) })
      throw new Error('crash midway')
    }), /crash midway/)
    assert.equal(ledger.hasRecord('r1'), false)
    ledger.close()
  })
})
