// Counts a refused record or blob: in the ledger (survives restarts, shown by /status) and as an
// event (the dashboard, /metrics). The validation code is the label; the detail says what was wrong.
import type { PeerId } from '@libp2p/interface'
import type { ValidationCode } from '@medforge/protocol'
import type { Ledger } from '../store/ledger.ts'
import type { DaemonEvents } from './events.ts'

export type RecordSource = 'gossip' | 'sync' | 'local'

export type CountRefusal = (code: ValidationCode, detail: string, source: RecordSource, from?: PeerId, verdict?: 'reject' | 'ignore') => void

export function refusalCounter (components: { ledger: Pick<Ledger, 'countRefusal'>, events: Pick<DaemonEvents, 'emit'>, network: string }): CountRefusal {
  const { ledger, events, network } = components
  return (code, detail, source, from, verdict = 'reject') => {
    if (code === 'ok') return
    try {
      ledger.countRefusal(network, code)
    } catch { /* the ledger may be unwritable (full disk); the event below still counts it */ }
    events.emit('refusal', { network, code, verdict, detail, source, from: from?.toString() })
  }
}
