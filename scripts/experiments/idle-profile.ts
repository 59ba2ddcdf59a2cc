// Issue 16 experiment: what a settled 50-daemon network (6 host processes) spends its CPU on with
// nothing to do. The propagation harness signals the hosts around a 30 s idle window after the
// warm-up publication; each host profiles that window (profile-on-signal.ts); this prints the
// main threads' busy time by package (self) and by function (inclusive), over all hosts.
// With --publishing, the window profiled is 12 publications instead (part 10).
//   node scripts/experiments/idle-profile.ts [--publishing] [DIR]
import { mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { benchPropagationScale } from '../bench/propagation-scale.ts'

interface ProfileNode { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, children?: number[] }

const publishing = process.argv.includes('--publishing')
const dir = process.argv.slice(2).find(a => a !== '--publishing') ?? join(process.cwd(), publishing ? 'publishing-profiles' : 'idle-profiles')
mkdirSync(dir, { recursive: true })
process.env.PROFILE_DIR = dir
process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import ${join(import.meta.dirname, 'profile-on-signal.ts')}`
const window = publishing ? { publications: 12, idleMs: 10_000, signalPublishing: true } : { publications: 2, idleMs: 30_000, signalIdle: true }
for (const row of await benchPropagationScale({ sizes: [50], processes: 6, methods: ['linear'], settleMs: 300_000, ...window })) console.log(row)

const where = (url: string): string => url.replace(/.*node_modules\//, '').replace(/^file:\/\/.*?\/(packages|scripts)\//, '$1/')
const self = new Map<string, number>()
const inclusive = new Map<string, number>()
let busy = 0
for (const file of readdirSync(dir).filter(f => f.endsWith('.cpuprofile'))) {
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { nodes: ProfileNode[], samples: number[] }
  const nodes = new Map(profile.nodes.map(n => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  for (const id of profile.samples) {
    const leaf = nodes.get(id)!
    if (leaf.callFrame.functionName === '(idle)') continue
    busy++
    const pkg = where(leaf.callFrame.url).match(/^(@[^/]+\/[^/]+|packages\/[^/]+|scripts|[^/]+)/)?.[0] ?? leaf.callFrame.functionName
    self.set(pkg, (self.get(pkg) ?? 0) + 1)
    const seen = new Set<string>()
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = nodes.get(cur)!.callFrame
      const key = `${f.functionName || '(anonymous)'} ${where(f.url)}:${f.lineNumber + 1}`
      if (seen.has(key)) continue
      seen.add(key)
      inclusive.set(key, (inclusive.get(key) ?? 0) + 1)
    }
  }
}
const top = (m: Map<string, number>, k: number): string => [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name, n]) => `${(100 * n / busy).toFixed(1).padStart(5)}%  ${name}`).join('\n')
console.log(`\nbusy main-thread samples (1 ms): ${busy}\n\nself, by package:\n${top(self, 20)}\n\ninclusive, by function:\n${top(inclusive, 100)}`)
