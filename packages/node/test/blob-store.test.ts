import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { cidOfBytes } from '@medforge/merge-core'
import { createBlobStore } from '../src/store/blob-store.ts'
import { BlobStoreWriteError, CorruptBlobError } from '../src/errors.ts'
import { tempDir } from './support.ts'

describe('blob store', () => {
  it('stores by CID, verifies on read, and is idempotent', () => {
    const dir = tempDir('blobs')
    const store = createBlobStore(dir)
    const bytes = new TextEncoder().encode('hello blob')
    const cid = store.put(bytes)
    assert.equal(cid, cidOfBytes(bytes))
    assert.equal(store.put(bytes), cid)
    assert.ok(store.has(cid))
    assert.equal(store.size(cid), bytes.length)
    assert.deepEqual(new Uint8Array(store.get(cid)!), bytes)
    assert.deepEqual(store.list(), [cid])
    assert.equal(store.get(cidOfBytes(Uint8Array.of(1))), undefined)
    assert.equal(store.has('not a cid'), false)
    assert.throws(() => store.get('../../etc/passwd'), TypeError, 'a path is never taken for a CID')
  })

  it('quarantines a blob whose bytes changed on disk', () => {
    const dir = tempDir('blobs')
    const store = createBlobStore(dir)
    const cid = store.put(Uint8Array.of(1, 2, 3))
    writeFileSync(join(dir, cid.slice(-2), cid), Uint8Array.of(9, 9, 9))
    assert.throws(() => store.get(cid), CorruptBlobError)
    assert.equal(store.has(cid), false)
    assert.equal(readdirSync(join(dir, 'quarantine')).length, 1)
  })

  it('drops leftovers of interrupted writes when it opens, and never shows them under a CID', () => {
    const dir = tempDir('blobs')
    mkdirSync(join(dir, 'tmp'), { recursive: true })
    writeFileSync(join(dir, 'tmp', 'bafkreihalf.123.0'), 'half written')
    const store = createBlobStore(dir)
    assert.deepEqual(readdirSync(join(dir, 'tmp')), [])
    assert.deepEqual(store.list(), [])
  })

  it('a failed write is a typed error and leaves nothing behind', () => {
    const dir = tempDir('blobs')
    const store = createBlobStore(dir)
    rmSync(join(dir, 'tmp'), { recursive: true })
    writeFileSync(join(dir, 'tmp'), 'not a directory')
    assert.throws(() => store.put(Uint8Array.of(7)), (err: Error) => err instanceof BlobStoreWriteError && /cannot store blob/.test(err.message))
    assert.equal(existsSync(join(dir, cidOfBytes(Uint8Array.of(7)).slice(-2), cidOfBytes(Uint8Array.of(7)))), false)
    assert.equal(new BlobStoreWriteError('bafkreix', Object.assign(new Error('no space'), { code: 'ENOSPC' })).diskFull, true)
  })

  it('streams a verified blob in chunks, and only a verified one', () => {
    const dir = tempDir('blobs')
    const bytes = new Uint8Array(10_000).map((_, i) => i & 0xff)
    const cid = createBlobStore(dir).put(bytes)
    const store = createBlobStore(dir) // a fresh process: nothing verified yet
    assert.equal(store.verifiedChunks(cid, 4096), undefined)
    assert.ok(store.get(cid) !== undefined)
    const streamed = store.verifiedChunks(cid, 4096)!
    assert.equal(streamed.size, 10_000)
    const chunks = [...streamed.chunks]
    assert.deepEqual(chunks.map(c => c.length), [4096, 4096, 1808])
    assert.deepEqual(Uint8Array.from(chunks.flatMap(c => [...c])), bytes)
    writeFileSync(join(dir, cid.slice(-2), cid), new Uint8Array(10_001)) // changed on disk
    assert.equal(store.verifiedChunks(cid, 4096), undefined, 'a changed file must be verified again')
  })
})
