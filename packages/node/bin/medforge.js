#!/usr/bin/env node
// MedForge's command line. The sources are TypeScript run natively by Node >= 22 (type stripping);
// on an older Node, say how to get the pinned one instead of failing on syntax.
const major = Number(process.versions.node.split('.')[0])
if (major < 22) {
  console.error(`medforge needs Node.js >= 22 (this is ${process.version}). Run it through npm, which uses the pinned node@24: npx medforge ...`)
  process.exit(1)
}
await import('../src/cli/main.ts')
