// The dashboard's static files: the page, its script and style, and uPlot from node_modules (no CDN).
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

const require = createRequire(import.meta.url)
const uplotDir = join(dirname(require.resolve('uplot')), '..', 'dist')
const here = join(import.meta.dirname, 'dashboard')

const ASSETS: Record<string, { file: string, type: string }> = {
  '/': { file: join(here, 'index.html'), type: 'text/html; charset=utf-8' },
  '/favicon.svg': { file: join(here, 'favicon.svg'), type: 'image/svg+xml' },
  '/favicon.ico': { file: join(here, 'favicon.svg'), type: 'image/svg+xml' },
  '/dashboard.js': { file: join(here, 'dashboard.js'), type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: join(here, 'dashboard.css'), type: 'text/css; charset=utf-8' },
  '/vendor/uPlot.iife.min.js': { file: join(uplotDir, 'uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  '/vendor/uPlot.min.css': { file: join(uplotDir, 'uPlot.min.css'), type: 'text/css; charset=utf-8' }
}

const cache = new Map<string, Buffer>()

/** What the page shows before (or without) its script: filled in on the server. */
export interface FirstPaint {
  readonly institution: string
  readonly peerId: string
  readonly networkName: string
  readonly stateRoot: string
  readonly agreement: string
  readonly summary: string
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`)

/** The dashboard page with the essentials written in, so a fetch without JavaScript shows them. */
export function dashboardPage (paint: FirstPaint): { body: Buffer, type: string } {
  const template = dashboardAsset('/')!
  const html = template.body.toString('utf8').replace(/\{\{(\w+)\}\}/g, (_, key: string) => escapeHtml(String((paint as unknown as Record<string, string>)[key] ?? '')))
  return { body: Buffer.from(html), type: template.type }
}

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
