// Waiting for a local network: poll until a condition holds, and until every daemon attests the
// same state root over the expected modules.
import type { DaemonProcess } from './daemon-process.ts'

/** Polls until `check` returns a value (not undefined) or the time runs out; the error says what it waited for. */
export async function waitFor<T> (what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v !== undefined) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${last === undefined ? '' : `: ${(last as Error).message}`}`)
    await new Promise(r => setTimeout(r, intervalMs))
  }
}

/**
 * Waits until every daemon reports the same state root over `count` modules, no merge running,
 * and (with `attested`) every peer heard from attesting that root too. A daemon that exits or
 * stays unreachable ends the wait at once with its own error (see DaemonProcess.get).
 */
export async function agreeOn (daemons: readonly DaemonProcess[], count: number, timeoutMs = 60_000, options: { attested?: boolean } = {}): Promise<string> {
  const deadline = Date.now() + timeoutMs
  let roots: string[] = []
  for (;;) {
    const st = await Promise.all(daemons.map(async d => (await d.status()).networks[0]))
    roots = st.map(s => s?.stateRoot ?? '(no network)')
    const agreed = new Set(roots).size === 1 && st.every(s => s !== undefined && s.moduleCount === count && !s.merging && (options.attested !== true || s.agreement.agree))
    if (agreed) return roots[0]!
    if (Date.now() > deadline) {
      const where = daemons.map((d, i) => `${d.label}: ${st[i]?.moduleCount ?? 0} module(s), root ${roots[i]}${st[i]?.merging === true ? ', merging' : ''}`).join('; ')
      throw new Error(`the daemons did not agree on ${count} modules within ${Math.round(timeoutMs / 1000)} s (${where})`)
    }
    await new Promise(r => setTimeout(r, 250))
  }
}
