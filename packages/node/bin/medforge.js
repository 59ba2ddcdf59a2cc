#!/usr/bin/env node
// MedForge's command line. The sources are TypeScript run natively by Node >= 22 (type stripping).
// On an older Node (a machine's system Node after `npm link`), run this same command on the Node
// the checkout pins (node_modules/node), or say how to get one.
import { spawnSync } from 'node:child_process'
import { existsSync, realpathSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const major = Number(process.versions.node.split('.')[0])
if (major < 22) {
  const here = dirname(realpathSync(fileURLToPath(import.meta.url)))
  const pinned = [join(here, '..', '..', '..', 'node_modules', 'node', 'bin', 'node'), join(here, '..', 'node_modules', 'node', 'bin', 'node')].find(p => existsSync(p))
  if (pinned === undefined) {
    console.error(`medforge needs Node.js >= 22 (this is ${process.version}). Run it through npm inside the checkout (npx medforge ...), which uses the pinned node@24, or install Node 22+.`)
    process.exit(1)
  }
  const r = spawnSync(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' })
  process.exit(r.status ?? 1)
}
await import('../src/cli/main.ts')
