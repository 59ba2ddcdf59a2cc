// The daemon's ledger (node:sqlite, WAL): every accepted record in arrival order (what the sync
// protocol serves), the admitted modules and their status, known state roots, peers'
// attestations, Fusion checkpoints, merge history and refusal counts.
import { SCHEMA } from './ledger-schema.ts'
import { DatabaseSync } from 'node:sqlite'
import type { StatementSync } from 'node:sqlite'
import { moduleRow } from './ledger-rows.ts'
import type { AttestationRow, CheckpointRow, MergeRow, ModuleRow, ModuleStatus, Row } from './ledger-rows.ts'

export type { AttestationRow, CheckpointRow, MergeRow, ModuleRow, ModuleStatus } from './ledger-rows.ts'

/** Attested roots waiting for an unknown tip module: beyond this, new ones are not kept (sync brings them again). */
const MAX_ROOT_CLAIMS = 10_000

/** The announcement that makes a claim on a module: everything its row records of it. */
export type ModuleClaim = Omit<ModuleRow, 'status' | 'reason' | 'admittedAt' | 'bytes' | 'verified'>

export class Ledger {
  readonly path: string
  private readonly db: DatabaseSync
  /** Prepared once per SQL text: preparing is most of the cost of these small queries. */
  private readonly statements = new Map<string, StatementSync>()

  constructor (path: string) {
    this.path = path
    this.db = new DatabaseSync(path)
    // WAL with synchronous=NORMAL: a crash of the process (kill -9) never loses a committed
    // transaction; a power cut may lose the last ones, never corrupt the file, and every record is
    // replicated by the network and comes back through sync. FULL would fsync every commit.
    this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;')
    this.db.exec(SCHEMA)
    this.migrate()
  }

  /** Columns added since the first schema, for ledgers created before them. */
  private migrate (): void {
    const has = (table: string, column: string): boolean => (this.db.prepare(`PRAGMA table_info(${table})`).all() as Row[]).some(c => c.name === column)
    if (!has('modules', 'verified')) this.db.exec("ALTER TABLE modules ADD COLUMN verified INTEGER NOT NULL DEFAULT 0; UPDATE modules SET verified = 1 WHERE status = 'ready'")
    if (!has('announcements', 'height')) this.db.exec('ALTER TABLE announcements ADD COLUMN height INTEGER NOT NULL DEFAULT 0')
    // The equivocation rule now looks announcements up by height (was: by parent root).
    this.db.exec('DROP INDEX IF EXISTS announcements_by_author; CREATE INDEX IF NOT EXISTS announcements_by_height ON announcements(network, author, task, height); CREATE INDEX IF NOT EXISTS announcements_by_module ON announcements(network, module)')
  }

  private sql (text: string): StatementSync {
    let st = this.statements.get(text)
    if (st === undefined) {
      st = this.db.prepare(text)
      this.statements.set(text, st)
    }
    return st
  }

  close (): void {
    if (this.db.isOpen) this.db.close()
  }

  /** Runs `fn` in one transaction: all of it lands, or none of it. */
  transaction<T> (fn: () => T): T {
    this.db.exec('BEGIN IMMEDIATE')
    try {
      const out = fn()
      this.db.exec('COMMIT')
      return out
    } catch (err) {
      // SQLite rolls back by itself on some errors (a full disk); never mask the real error.
      if (this.db.isTransaction) this.db.exec('ROLLBACK')
      throw err
    }
  }

  hasRecord (cid: string): boolean {
    return this.sql('SELECT 1 FROM records WHERE cid = ?').get(cid) !== undefined
  }

  /** Of these record CIDs, the ones not stored, in the order given: one query for a whole sync inventory (5x faster than one each). */
  unknownRecords (cids: readonly string[]): string[] {
    if (cids.length === 0) return []
    const known = new Set((this.sql('SELECT cid FROM records WHERE cid IN (SELECT value FROM json_each(?))').all(JSON.stringify(cids)) as Row[]).map(r => r.cid as string))
    return cids.filter(c => !known.has(c))
  }

  /** Appends a record; false when it was already there. */
  addRecord (r: { cid: string, network: string, type: string, author: string, bytes: Uint8Array }): boolean {
    const res = this.sql('INSERT OR IGNORE INTO records (cid, network, type, author, bytes, received_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(r.cid, r.network, r.type, r.author, r.bytes, Date.now())
    return Number(res.changes) > 0
  }

  /** The CIDs of a network's records after `after`, in arrival order (the sync inventory). */
  recordIdsAfter (network: string, after: number, limit: number): Array<{ seq: number, cid: string }> {
    return (this.sql('SELECT seq, cid FROM records WHERE network = ? AND seq > ? ORDER BY seq LIMIT ?').all(network, after, limit) as Row[])
      .map(r => ({ seq: Number(r.seq), cid: r.cid as string }))
  }

  /** A network's records by CID, in the order asked; unknown CIDs (and other networks' records) left out. */
  recordsById (network: string, cids: readonly string[]): Uint8Array[] {
    const get = this.sql('SELECT bytes FROM records WHERE cid = ? AND network = ?')
    return cids.flatMap(cid => {
      const row = get.get(cid, network) as Row | undefined
      return row === undefined ? [] : [row.bytes as Uint8Array]
    })
  }

  recordCount (network: string): number {
    return Number((this.sql('SELECT COUNT(*) AS n FROM records WHERE network = ?').get(network) as Row).n)
  }

  recordsOfType (network: string, type: string): Uint8Array[] {
    return (this.sql('SELECT bytes FROM records WHERE network = ? AND type = ? ORDER BY seq').all(network, type) as Row[]).map(r => r.bytes as Uint8Array)
  }

  getRecordBytes (cid: string): Uint8Array | undefined {
    return (this.sql('SELECT bytes FROM records WHERE cid = ?').get(cid) as Row | undefined)?.bytes as Uint8Array | undefined
  }

  /**
   * Admits a module. A module CID counts once per network: when announced twice, the announcement
   * with the lower (height, record CID) wins, so every peer keeps the same one whatever the order;
   * once the module is known to be its author's (verified), only that author's claims compete.
   * Returns true when this announcement is now the one on record.
   */
  admitModule (m: ModuleClaim): boolean {
    const existing = this.getModule(m.network, m.cid)
    if (existing !== undefined) {
      if (!this.isClaim(existing.recordCid)) {
        this.replaceClaim(m.network, m.cid, m) // the claim on record was proven false and dropped
        return true
      }
      const wins = m.height < existing.height || (m.height === existing.height && m.recordCid < existing.recordCid)
      if (!wins || (existing.verified && m.author !== existing.author)) return false
      this.sql('UPDATE modules SET record_cid = ?, task = ?, height = ?, author = ?, module_blob = ?, distilled = ?, head = ?, samples = ?, parent_root = ? WHERE network = ? AND cid = ?')
        .run(m.recordCid, m.task, m.height, m.author, m.moduleBlob, m.distilled, m.head, m.samples, m.parentRoot, m.network, m.cid)
      return true
    }
    this.sql(`INSERT INTO modules (network, cid, record_cid, task, height, author, module_blob, distilled, head, samples, parent_root, status, reason, admitted_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'fetching', NULL, ?)`)
      .run(m.network, m.cid, m.recordCid, m.task, m.height, m.author, m.moduleBlob, m.distilled, m.head, m.samples, m.parentRoot, Date.now())
    return true
  }

  /** Every signed announcement seen (admitted or kept as evidence), for the equivocation rule. */
  indexAnnouncement (a: { recordCid: string, network: string, author: string, task: string, parentRoot: string, height: number, module: string }): void {
    this.sql('INSERT OR IGNORE INTO announcements (record_cid, network, author, task, parent_root, height, module) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(a.recordCid, a.network, a.author, a.task, a.parentRoot, a.height, a.module)
  }

  /** Modules the author announced for this task at this height. */
  announcedModules (network: string, author: string, task: string, height: number): string[] {
    return (this.sql('SELECT DISTINCT module FROM announcements WHERE network = ? AND author = ? AND task = ? AND height = ? ORDER BY module').all(network, author, task, height) as Row[]).map(r => String(r.module))
  }

  /** The records of every announcement still claiming a module (for choosing among them again). */
  claimRecords (network: string, module: string): Uint8Array[] {
    return (this.sql('SELECT r.bytes FROM announcements a JOIN records r ON r.cid = a.record_cid WHERE a.network = ? AND a.module = ? ORDER BY a.record_cid').all(network, module) as Row[]).map(r => r.bytes as Uint8Array)
  }

  /** Forgets a claim proven false: it no longer competes for its module (the record stays). */
  dropClaim (recordCid: string): void {
    this.sql('DELETE FROM announcements WHERE record_cid = ?').run(recordCid)
  }

  private isClaim (recordCid: string): boolean {
    return this.sql('SELECT 1 FROM announcements WHERE record_cid = ?').get(recordCid) !== undefined
  }

  /** Puts another claim on record for a module, to be fetched and checked from scratch. */
  replaceClaim (network: string, cid: string, m: ModuleClaim): void {
    this.sql("UPDATE modules SET record_cid = ?, task = ?, height = ?, author = ?, module_blob = ?, distilled = ?, head = ?, samples = ?, parent_root = ?, status = 'fetching', reason = NULL, verified = 0 WHERE network = ? AND cid = ?")
      .run(m.recordCid, m.task, m.height, m.author, m.moduleBlob, m.distilled, m.head, m.samples, m.parentRoot, network, cid)
  }

  /** The module blob was checked to be this module by its recorded author. */
  markVerified (network: string, cid: string): void {
    this.sql('UPDATE modules SET verified = 1 WHERE network = ? AND cid = ?').run(network, cid)
  }

  setModuleStatus (network: string, cid: string, status: ModuleStatus, reason: string | null = null, bytes: number | null = null): void {
    this.sql('UPDATE modules SET status = ?, reason = ?, bytes = COALESCE(?, bytes) WHERE network = ? AND cid = ?').run(status, reason, bytes, network, cid)
  }

  /** fetching → ready, only if nothing (an equivocation, a revocation) withdrew the module meanwhile. */
  markReady (network: string, cid: string, bytes: number): boolean {
    return Number(this.sql("UPDATE modules SET status = 'ready', reason = NULL, bytes = ? WHERE network = ? AND cid = ? AND status = 'fetching'").run(bytes, network, cid).changes) > 0
  }

  getModule (network: string, cid: string): ModuleRow | undefined {
    const r = this.sql('SELECT * FROM modules WHERE network = ? AND cid = ?').get(network, cid) as Row | undefined
    return r === undefined ? undefined : moduleRow(r)
  }

  modules (network: string, status?: ModuleStatus): ModuleRow[] {
    const rows = status === undefined
      ? this.sql('SELECT * FROM modules WHERE network = ? ORDER BY height, cid').all(network)
      : this.sql('SELECT * FROM modules WHERE network = ? AND status = ? ORDER BY height, cid').all(network, status)
    return (rows as Row[]).map(moduleRow)
  }

  /** A root a peer attested, at the height it claims (first claim kept); true when new. */
  addRoot (network: string, root: string, height: number): boolean {
    return Number(this.sql('INSERT OR IGNORE INTO roots (network, root, height) VALUES (?, ?, ?)').run(network, root, height).changes) > 0
  }

  /** An attested root whose tip module is not known yet: it waits for that module (bounded per network). */
  addRootClaim (network: string, root: string, height: number, tip: string): void {
    if (Number((this.sql('SELECT COUNT(*) AS n FROM root_claims WHERE network = ?').get(network) as Row).n) >= MAX_ROOT_CLAIMS) return
    this.sql('INSERT OR IGNORE INTO root_claims (network, root, height, tip) VALUES (?, ?, ?, ?)').run(network, root, height, tip)
  }

  /** The roots waiting for this tip module, removed from the waiting list. */
  takeRootClaims (network: string, tip: string): Array<{ root: string, height: number }> {
    const rows = (this.sql('SELECT root, height FROM root_claims WHERE network = ? AND tip = ?').all(network, tip) as Row[]).map(r => ({ root: String(r.root), height: Number(r.height) }))
    this.sql('DELETE FROM root_claims WHERE network = ? AND tip = ?').run(network, tip)
    return rows
  }

  /** A root this node computed (a merge, the genesis): its height overrides any attested one. True when new. */
  addComputedRoot (network: string, root: string, height: number): boolean {
    const known = this.rootComputed(network, root)
    this.sql('INSERT OR REPLACE INTO computed_roots (network, root, height) VALUES (?, ?, ?)').run(network, root, height)
    return !known
  }

  /** The height of a known root: the one this node computed, else the first one attested. */
  rootHeight (network: string, root: string): number | undefined {
    const c = this.sql('SELECT height FROM computed_roots WHERE network = ? AND root = ?').get(network, root) as Row | undefined
    if (c !== undefined) return Number(c.height)
    const r = this.sql('SELECT height FROM roots WHERE network = ? AND root = ?').get(network, root) as Row | undefined
    return r === undefined ? undefined : Number(r.height)
  }

  rootComputed (network: string, root: string): boolean {
    return this.sql('SELECT 1 FROM computed_roots WHERE network = ? AND root = ?').get(network, root) !== undefined
  }

  /** Keeps each author's latest attestation (by createdAt). */
  putAttestation (a: Omit<AttestationRow, 'receivedAt'>): void {
    this.sql(`INSERT INTO attestations (network, author, record_cid, state_root, height, module_count, created_at, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (network, author) DO UPDATE SET record_cid = excluded.record_cid, state_root = excluded.state_root, height = excluded.height,
        module_count = excluded.module_count, created_at = excluded.created_at, received_at = excluded.received_at
      WHERE excluded.created_at >= attestations.created_at`)
      .run(a.network, a.author, a.recordCid, a.stateRoot, a.height, a.moduleCount, a.createdAt, Date.now())
  }

  attestations (network: string): AttestationRow[] {
    return (this.sql('SELECT * FROM attestations WHERE network = ? ORDER BY author').all(network) as Row[]).map(r => ({
      network: String(r.network),
      author: String(r.author),
      recordCid: String(r.record_cid),
      stateRoot: String(r.state_root),
      height: Number(r.height),
      moduleCount: Number(r.module_count),
      createdAt: Number(r.created_at),
      receivedAt: Number(r.received_at)
    }))
  }

  addMerge (m: MergeRow): void {
    this.sql('INSERT INTO merges (network, state_root, module_count, height, method, modules, details, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(m.network, m.stateRoot, m.moduleCount, m.height, m.method, JSON.stringify(m.modules), JSON.stringify(m.details), m.startedAt, m.finishedAt)
  }

  merges (network: string, limit = 100): MergeRow[] {
    return (this.sql('SELECT * FROM merges WHERE network = ? ORDER BY id DESC LIMIT ?').all(network, limit) as Row[]).map(r => ({
      network: String(r.network),
      stateRoot: String(r.state_root),
      moduleCount: Number(r.module_count),
      height: Number(r.height),
      method: String(r.method),
      modules: JSON.parse(String(r.modules)) as string[],
      details: JSON.parse(String(r.details)) as unknown,
      startedAt: Number(r.started_at),
      finishedAt: Number(r.finished_at)
    })).reverse()
  }

  latestMerge (network: string): MergeRow | undefined {
    return this.merges(network, 1)[0]
  }

  putCheckpoint (c: CheckpointRow): void {
    this.sql('INSERT OR REPLACE INTO checkpoints (network, prefix, count, blob, steps) VALUES (?, ?, ?, ?, ?)').run(c.network, c.prefix, c.count, c.blob, c.steps)
  }

  getCheckpoint (network: string, prefix: string): CheckpointRow | undefined {
    const r = this.sql('SELECT * FROM checkpoints WHERE network = ? AND prefix = ?').get(network, prefix) as Row | undefined
    return r === undefined ? undefined : { network: String(r.network), prefix: String(r.prefix), count: Number(r.count), blob: String(r.blob), steps: String(r.steps) }
  }

  countRefusal (network: string, code: string): void {
    this.sql('INSERT INTO refusals (network, code, count) VALUES (?, ?, 1) ON CONFLICT (network, code) DO UPDATE SET count = count + 1').run(network, code)
  }

  refusals (network: string): Record<string, number> {
    return Object.fromEntries((this.sql('SELECT code, count FROM refusals WHERE network = ? ORDER BY code').all(network) as Row[]).map(r => [String(r.code), Number(r.count)]))
  }
}
