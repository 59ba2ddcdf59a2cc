// The testnet's live view in the terminal: one row per institution, redrawn in place on a TTY,
// printed as change lines otherwise (CI logs).
export interface SiteRow {
  name: string
  task: string
  phase: string
  peers: number | null
  modules: string
  stateRoot: string | null
  agree: boolean | null
}

const HEAD = ['institution', 'task', 'phase', 'peers', 'modules', 'state root', 'agrees']

function cells (r: SiteRow): string[] {
  return [r.name, r.task, r.phase, r.peers === null ? '–' : String(r.peers), r.modules, r.stateRoot === null ? '–' : `${r.stateRoot.slice(0, 12)}…${r.stateRoot.slice(-6)}`, r.agree === null ? '–' : r.agree ? 'yes' : 'no']
}

export function createLiveTable (stream: NodeJS.WriteStream = process.stdout): { render: (rows: SiteRow[]) => void, close: () => void } {
  let drawn = 0
  const last = new Map<string, string>()
  return {
    render (rows) {
      const table = [HEAD, ...rows.map(cells)]
      const widths = HEAD.map((_, i) => Math.max(...table.map(r => r[i]!.length)))
      const lines = table.map(r => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd())
      if (stream.isTTY) {
        if (drawn > 0) stream.write(`\x1b[${drawn}A`)
        for (const l of lines) stream.write(`\x1b[2K${l}\n`)
        drawn = lines.length
      } else {
        for (const r of rows) {
          const key = cells(r).join('|')
          if (last.get(r.name) !== key) {
            last.set(r.name, key)
            stream.write(`  ${r.name}: ${r.phase}, ${r.peers ?? 0} peer(s), modules ${r.modules}${r.stateRoot === null ? '' : `, root ${r.stateRoot.slice(0, 16)}…`}${r.agree === true ? ', agrees' : ''}\n`)
          }
        }
      }
    },
    close () { drawn = 0 }
  }
}
