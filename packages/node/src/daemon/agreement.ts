// Whether the network agrees with this daemon: what its peers' latest attestations say against
// the root it holds. Shared by the status view, `medforge status` and the /metrics gauge.
import type { AttestationRow } from '../store/ledger.ts'

export interface Agreement {
  /** Every peer heard from attests the same root as this daemon (false when none was heard). */
  readonly agree: boolean
  readonly peersHeard: number
  readonly peersAgreeing: number
}

export function agreementOf (attestations: readonly AttestationRow[], self: string, stateRoot: string): Agreement {
  const others = attestations.filter(a => a.author !== self)
  const agreeing = others.filter(a => a.stateRoot === stateRoot).length
  return { agree: others.length > 0 && agreeing === others.length, peersHeard: others.length, peersAgreeing: agreeing }
}
