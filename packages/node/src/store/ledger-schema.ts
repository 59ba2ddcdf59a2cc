// The ledger's tables (node:sqlite). Created if missing on open; a change here needs a migration.
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS records (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  cid TEXT NOT NULL UNIQUE,
  network TEXT NOT NULL,
  type TEXT NOT NULL,
  author TEXT NOT NULL,
  bytes BLOB NOT NULL,
  received_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS records_network ON records(network, seq);
CREATE TABLE IF NOT EXISTS modules (
  network TEXT NOT NULL,
  cid TEXT NOT NULL,
  record_cid TEXT NOT NULL,
  task TEXT NOT NULL,
  height INTEGER NOT NULL,
  author TEXT NOT NULL,
  module_blob TEXT NOT NULL,
  distilled TEXT NOT NULL,
  head TEXT,
  samples INTEGER NOT NULL,
  parent_root TEXT NOT NULL,
  status TEXT NOT NULL,
  reason TEXT,
  admitted_at INTEGER NOT NULL,
  bytes INTEGER,
  verified INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (network, cid)
);
CREATE TABLE IF NOT EXISTS roots (
  network TEXT NOT NULL,
  root TEXT NOT NULL,
  height INTEGER NOT NULL,
  PRIMARY KEY (network, root)
);
CREATE TABLE IF NOT EXISTS root_claims (
  network TEXT NOT NULL,
  root TEXT NOT NULL,
  height INTEGER NOT NULL,
  tip TEXT NOT NULL,
  PRIMARY KEY (network, tip, root, height)
);
CREATE TABLE IF NOT EXISTS computed_roots (
  network TEXT NOT NULL,
  root TEXT NOT NULL,
  height INTEGER NOT NULL,
  PRIMARY KEY (network, root)
);
CREATE TABLE IF NOT EXISTS attestations (
  network TEXT NOT NULL,
  author TEXT NOT NULL,
  record_cid TEXT NOT NULL,
  state_root TEXT NOT NULL,
  height INTEGER NOT NULL,
  module_count INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  PRIMARY KEY (network, author)
);
CREATE TABLE IF NOT EXISTS merges (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  network TEXT NOT NULL,
  state_root TEXT NOT NULL,
  module_count INTEGER NOT NULL,
  height INTEGER NOT NULL,
  method TEXT NOT NULL,
  modules TEXT NOT NULL,
  details TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  finished_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
  network TEXT NOT NULL,
  prefix TEXT NOT NULL,
  count INTEGER NOT NULL,
  blob TEXT NOT NULL,
  steps TEXT NOT NULL,
  PRIMARY KEY (network, prefix)
);
CREATE TABLE IF NOT EXISTS announcements (
  record_cid TEXT PRIMARY KEY,
  network TEXT NOT NULL,
  author TEXT NOT NULL,
  task TEXT NOT NULL,
  parent_root TEXT NOT NULL,
  module TEXT NOT NULL,
  height INTEGER NOT NULL DEFAULT 0
);
-- The announcements' indexes are made by Ledger.migrate (they need the height column, which older ledgers gain there).
CREATE TABLE IF NOT EXISTS refusals (
  network TEXT NOT NULL,
  code TEXT NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (network, code)
);
`
