// What an accepted record changes in the ledger. Kept apart from gossip handling so that gossip,
// sync and local publication all apply records the same way.
import { decodeRecord, recordCid } from '@medforge/protocol'
import type { ModuleAnnouncement, Revocation, StateAttestation } from '@medforge/protocol'
import type { Ledger, ModuleClaim, ModuleRow } from '../store/ledger.ts'

export function applyAnnouncement (ledger: Ledger, r: ModuleAnnouncement): boolean {
  indexAnnouncement(ledger, r)
  return ledger.admitModule(claimOf(r))
}

function claimOf (r: ModuleAnnouncement): ModuleClaim {
  return {
    network: r.network,
    cid: r.module,
    recordCid: recordCid(r),
    task: r.task,
    height: r.height,
    author: r.author,
    moduleBlob: r.moduleBlob,
    distilled: r.distilled,
    head: r.head,
    samples: r.samples,
    parentRoot: r.parentRoot
  }
}

/**
 * A claim on a module proven false (its module blob is someone else's module, or not the module
 * at all): it stops competing, and the best remaining claim, by (height, record CID) as on every
 * peer, takes the row. With none left the row stays, invalid, saying why, until a new claim comes
 * (admitModule lets any claim replace a dropped one). True when another claim now holds it.
 */
export function dropFalseClaim (ledger: Ledger, row: ModuleRow, reason: string): boolean {
  ledger.dropClaim(row.recordCid)
  const claims = ledger.claimRecords(row.network, row.cid)
    .map(bytes => decodeRecord(bytes))
    .filter((r): r is ModuleAnnouncement => r.type === 'module-announcement')
    .sort((a, b) => a.height - b.height || (recordCid(a) < recordCid(b) ? -1 : 1))
  const next = claims[0]
  if (next === undefined) {
    ledger.setModuleStatus(row.network, row.cid, 'invalid', reason)
    return false
  }
  ledger.replaceClaim(row.network, row.cid, claimOf(next))
  return true
}

/** Revocations that waited for the module to be known as its author's; true when one applied. */
export function applyWaitingRevocations (ledger: Ledger, network: string, module: string): boolean {
  let applied = false
  for (const bytes of ledger.recordsOfType(network, 'revocation')) {
    const r = decodeRecord(bytes)
    if (r.type === 'revocation' && r.module === module && applyRevocation(ledger, r)) applied = true
  }
  return applied
}

export function indexAnnouncement (ledger: Ledger, r: ModuleAnnouncement): void {
  ledger.indexAnnouncement({ recordCid: recordCid(r), network: r.network, author: r.author, task: r.task, parentRoot: r.parentRoot, height: r.height, module: r.module })
}

/**
 * The equivocation rule: an author announcing two different modules for the same task at the same
 * height loses both (per height, not per parent: made-up parent roots must not multiply the
 * quota). Whatever order peers see them in, they all end up excluding both.
 * Returns the modules withdrawn.
 */
export function applyEquivocation (ledger: Ledger, r: ModuleAnnouncement): string[] {
  indexAnnouncement(ledger, r)
  const withdrawn: string[] = []
  for (const module of ledger.announcedModules(r.network, r.author, r.task, r.height)) {
    const row = ledger.getModule(r.network, module)
    if (row !== undefined && row.author === r.author && row.status !== 'invalid' && row.status !== 'revoked') {
      ledger.setModuleStatus(r.network, module, 'invalid', `equivocation: ${r.author} announced more than one ${r.task} module at height ${r.height}`)
      withdrawn.push(module)
    }
  }
  return withdrawn
}

/**
 * Keeps a peer's attestation (what it says it computed) and makes the root usable as a parent,
 * but only at a height this ledger can check: the height its tip module has here. A tip not yet
 * known waits (rootsProvenBy); a tip at another height proves the claim false and it is dropped.
 * Returns the roots that became usable.
 */
export function applyAttestation (ledger: Ledger, r: StateAttestation, cid: string): string[] {
  ledger.putAttestation({ network: r.network, author: r.author, recordCid: cid, stateRoot: r.stateRoot, height: r.height, moduleCount: r.moduleCount, createdAt: r.createdAt })
  if (r.tip === null) return ledger.addRoot(r.network, r.stateRoot, 0) ? [r.stateRoot] : []
  const tip = ledger.getModule(r.network, r.tip)
  if (tip === undefined) {
    ledger.addRootClaim(r.network, r.stateRoot, r.height, r.tip)
    return []
  }
  return tip.height === r.height && ledger.addRoot(r.network, r.stateRoot, r.height) ? [r.stateRoot] : []
}

/** Attested roots that waited for this module as their tip: usable now where its height matches. */
export function rootsProvenBy (ledger: Ledger, network: string, module: string): string[] {
  const row = ledger.getModule(network, module)
  if (row === undefined) return []
  const proven = ledger.takeRootClaims(network, module).filter(c => c.height === row.height && ledger.addRoot(network, c.root, c.height))
  return proven.map(c => c.root)
}

/** Withdraws a module; true when it was merged-relevant (known and not already withdrawn). */
export function applyRevocation (ledger: Ledger, r: Revocation): boolean {
  const row = ledger.getModule(r.network, r.module)
  // The validator checked the signatures against moduleAuthor; that must be the module's real author,
  // which is certain only once its module blob was checked (a false claim could make anyone look
  // like the author until then). Until then the revocation waits in the ledger: applyWaitingRevocations.
  if (row === undefined || row.status === 'revoked' || row.author !== r.moduleAuthor || !row.verified) return false
  ledger.setModuleStatus(r.network, r.module, 'revoked', r.reason)
  return true
}
