// What an accepted record changes in the ledger. Kept apart from gossip handling so that gossip,
// sync and local publication all apply records the same way.
import { recordCid } from '@medforge/protocol'
import type { ModuleAnnouncement, Revocation, StateAttestation } from '@medforge/protocol'
import type { Ledger } from '../store/ledger.ts'

export function applyAnnouncement (ledger: Ledger, r: ModuleAnnouncement): boolean {
  indexAnnouncement(ledger, r)
  return ledger.admitModule({
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
  })
}

export function indexAnnouncement (ledger: Ledger, r: ModuleAnnouncement): void {
  ledger.indexAnnouncement({ recordCid: recordCid(r), network: r.network, author: r.author, task: r.task, parentRoot: r.parentRoot, module: r.module })
}

/**
 * The equivocation rule: an author announcing two different modules for the same task on the same
 * parent root loses both. Whatever order peers see them in, they all end up excluding both.
 * Returns the modules withdrawn.
 */
export function applyEquivocation (ledger: Ledger, r: ModuleAnnouncement): string[] {
  indexAnnouncement(ledger, r)
  const withdrawn: string[] = []
  for (const module of ledger.announcedModules(r.network, r.author, r.task, r.parentRoot)) {
    const row = ledger.getModule(r.network, module)
    if (row !== undefined && row.author === r.author && row.status !== 'invalid' && row.status !== 'revoked') {
      ledger.setModuleStatus(r.network, module, 'invalid', `equivocation: ${r.author} announced more than one ${r.task} module on parent ${r.parentRoot}`)
      withdrawn.push(module)
    }
  }
  return withdrawn
}

export function applyAttestation (ledger: Ledger, r: StateAttestation): boolean {
  ledger.putAttestation({ network: r.network, author: r.author, recordCid: recordCid(r), stateRoot: r.stateRoot, height: r.height, moduleCount: r.moduleCount, createdAt: r.createdAt })
  return ledger.addRoot(r.network, r.stateRoot, r.height)
}

/** Withdraws a module; true when it was merged-relevant (known and not already withdrawn). */
export function applyRevocation (ledger: Ledger, r: Revocation): boolean {
  const row = ledger.getModule(r.network, r.module)
  // The validator checked the signatures against moduleAuthor; that must be the module's real author.
  if (row === undefined || row.status === 'revoked' || row.author !== r.moduleAuthor) return false
  ledger.setModuleStatus(r.network, r.module, 'revoked', r.reason)
  return true
}
