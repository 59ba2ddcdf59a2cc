// Content-addressed blobs on disk: `blobs/<first 2 chars of the hash part>/<cid>`. Writes go to a
// temp file, are fsynced, then renamed into place, so a crash never leaves a half-written blob
// under its final name. Reads verify the hash; a blob that fails is moved to `quarantine/`.
import { createHash } from 'node:crypto'
import { cidFromSha256, cidOfBytes } from '@medforge/merge-core'
import { closeSync, createReadStream, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { BlobStoreWriteError, CorruptBlobError } from '../errors.ts'

export interface BlobStore {
  has (cid: string): boolean
  /** The blob's bytes, verified against the CID; undefined when absent. */
  get (cid: string): Uint8Array | undefined
  /**
   * A blob this process has already verified, read from disk chunk by chunk (the first byte can go
   * out before the last is read); undefined when it is absent or not verified yet (use `get`).
   */
  verifiedChunks (cid: string, chunkBytes: number): { size: number, chunks: Iterable<Uint8Array> } | undefined
  /** Stores bytes and returns their CID (raw, sha2-256). Idempotent. */
  put (bytes: Uint8Array): string
  /**
   * Stores bytes whose sha2-256 the caller has just checked against `cid` (a verified transfer, a
   * compute thread's hash): the event loop does not hash them again.
   */
  putVerified (cid: string, bytes: Uint8Array): string
  /**
   * Hashes a stored blob in chunks, yielding to the event loop between them (once per process and
   * file version); false when it is absent or fails its CID (then it is quarantined).
   */
  verify (cid: string): Promise<boolean>
  size (cid: string): number | undefined
  list (): string[]
  /** Bytes stored (blobs only). */
  readonly usedBytes: number
}

export interface BlobStoreOptions {
  /** A disk budget: a put that would exceed it fails as if the disk were full. */
  readonly maxBytes?: number
}

const CID_PATTERN = /^b[a-z2-7]{20,120}$/

/** Where a blob lives in a store directory (throws on anything that is not a blob CID). */
export function blobPath (dir: string, cid: string): string {
  if (!CID_PATTERN.test(cid)) throw new TypeError(`not a blob CID: ${JSON.stringify(cid.slice(0, 140))}`)
  return join(dir, cid.slice(-2), cid)
}

/**
 * A blob read straight from a store directory and checked against its CID, without the store's
 * bookkeeping: how a worker thread reads what the daemon's store wrote. Undefined when absent.
 */
export function readVerifiedBlob (dir: string, cid: string): Uint8Array | undefined {
  let bytes: Uint8Array
  try {
    bytes = readFileSync(blobPath(dir, cid))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  if (cidOfBytes(bytes) !== cid) throw new CorruptBlobError(cid, blobPath(dir, cid))
  return bytes
}

function processAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export function createBlobStore (dir: string, options: BlobStoreOptions = {}): BlobStore {
  const tmpDir = join(dir, 'tmp')
  const quarantine = join(dir, 'quarantine')
  mkdirSync(tmpDir, { recursive: true })
  // Leftovers of writes interrupted by a crash: never visible under a CID, safe to drop. A temp
  // file of a live process (a running daemon while `composite export` opens the store) is not.
  for (const f of readdirSync(tmpDir)) {
    const pid = Number(f.split('.')[1])
    if (!Number.isInteger(pid) || !processAlive(pid)) rmSync(join(tmpDir, f), { force: true })
  }
  const pathOf = (cid: string): string => blobPath(dir, cid)
  let counter = 0
  let used = 0
  // Blobs already verified by this process, by path, with the size and mtime they had then: a
  // blob served again is not hashed again unless the file changed.
  const verified = new Map<string, string>()
  const stamp = (path: string): string => { const st = statSync(path); return `${st.size}:${st.mtimeMs}` }
  const list = (): string[] => {
    const out: string[] = []
    for (const sub of readdirSync(dir)) {
      if (sub === 'tmp' || sub === 'quarantine' || sub.length !== 2) continue
      for (const f of readdirSync(join(dir, sub))) if (CID_PATTERN.test(f)) out.push(f)
    }
    return out.sort()
  }
  for (const cid of list()) used += statSync(pathOf(cid)).size
  return {
    get usedBytes () { return used },
    has: cid => CID_PATTERN.test(cid) && existsSync(pathOf(cid)),
    size (cid) {
      try { return statSync(pathOf(cid)).size } catch { return undefined }
    },
    verifiedChunks (cid, chunkBytes) {
      if (!CID_PATTERN.test(cid)) return undefined
      const path = pathOf(cid)
      let st: string
      try { st = stamp(path) } catch { return undefined }
      if (verified.get(path) !== st) return undefined
      const size = Number(st.split(':')[0])
      return {
        size,
        chunks: (function * () {
          const fd = openSync(path, 'r')
          try {
            for (let off = 0; off < size;) {
              const buf = new Uint8Array(Math.min(chunkBytes, size - off))
              let got = 0
              while (got < buf.length) {
                const n = readSync(fd, buf, got, buf.length - got, off + got)
                if (n === 0) throw new CorruptBlobError(cid, path) // shrank under us
                got += n
              }
              off += got
              yield buf
            }
          } finally {
            closeSync(fd)
          }
        })()
      }
    },
    get (cid) {
      const path = pathOf(cid)
      let bytes: Uint8Array
      try {
        bytes = readFileSync(path)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
        throw err
      }
      const st = stamp(path)
      if (verified.get(path) === st) return bytes
      if (cidOfBytes(bytes) !== cid) {
        quarantineBlob(cid, path)
        throw new CorruptBlobError(cid, path)
      }
      if (verified.size > 100_000) verified.clear()
      verified.set(path, st)
      return bytes
    },
    put (bytes) {
      return write(cidOfBytes(bytes), bytes)
    },
    putVerified (cid, bytes) {
      return write(cid, bytes)
    },
    async verify (cid) {
      if (!CID_PATTERN.test(cid)) return false
      const path = pathOf(cid)
      let st: string
      try { st = stamp(path) } catch { return false }
      if (verified.get(path) === st) return true
      const hash = createHash('sha256')
      try {
        for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer)
      } catch {
        return false
      }
      if (cidFromSha256(hash.digest()) !== cid) { quarantineBlob(cid, path); return false }
      verified.set(path, st)
      return true
    },
    list
  }

  function quarantineBlob (cid: string, path: string): void {
    mkdirSync(quarantine, { recursive: true })
    try {
      const size = statSync(path).size
      renameSync(path, join(quarantine, `${cid}.${Date.now()}`))
      used -= size
    } catch { /* already moved */ }
  }

  function write (cid: string, bytes: Uint8Array): string {
      const path = pathOf(cid)
      if (existsSync(path)) return cid
      if (options.maxBytes !== undefined && used + bytes.length > options.maxBytes) {
        throw new BlobStoreWriteError(cid, Object.assign(new Error(`the blob store's budget of ${options.maxBytes} bytes is used up`), { code: 'ENOSPC' }))
      }
      const tmp = join(tmpDir, `${cid}.${process.pid}.${counter++}`)
      try {
        mkdirSync(join(dir, cid.slice(-2)), { recursive: true })
        const fd = openSync(tmp, 'w', 0o600)
        try {
          for (let off = 0; off < bytes.length;) off += writeSync(fd, bytes, off, bytes.length - off)
          fsyncSync(fd)
        } finally {
          closeSync(fd)
        }
        renameSync(tmp, path)
        used += bytes.length
        verified.set(path, stamp(path)) // hashed by the caller: its CID is these bytes' digest
      } catch (err) {
        try { rmSync(tmp, { force: true }) } catch { /* the temp path itself is unusable: nothing was written there */ }
        throw new BlobStoreWriteError(cid, err)
      }
      return cid
  }
}
