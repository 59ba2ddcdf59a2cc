// The dashboard's static files: the page, its script and style, and uPlot from node_modules (no CDN).
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

const require = createRequire(import.meta.url)
const uplotDir = join(dirname(require.resolve('uplot')), '..', 'dist')
const here = join(import.meta.dirname, 'dashboard')

const ASSETS: Record<string, { file: string, type: string }> = {
  '/': { file: join(here, 'index.html'), type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: join(here, 'dashboard.js'), type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: join(here, 'dashboard.css'), type: 'text/css; charset=utf-8' },
  '/vendor/uPlot.iife.min.js': { file: join(uplotDir, 'uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  '/vendor/uPlot.min.css': { file: join(uplotDir, 'uPlot.min.css'), type: 'text/css; charset=utf-8' }
}

const cache = new Map<string, Buffer>()

export function dashboardAsset (path: string): { body: Buffer, type: string } | undefined {
  const asset = ASSETS[path === '/dashboard' ? '/' : path]
  if (asset === undefined) return undefined
  let body = cache.get(asset.file)
  if (body === undefined) {
    body = readFileSync(asset.file)
    cache.set(asset.file, body)
  }
  return { body, type: asset.type }
}
