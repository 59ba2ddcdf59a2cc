// The operator dashboard in a real browser (headless Debian Chromium via playwright-core) against
// running daemons, and the Prometheus endpoint.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { readModuleBundle } from '@medforge/node'
import { createTestnet, makeBundle, root, startDaemon, waitFor } from './support/testnet-fixture.ts'
import type { RunningDaemon, Testnet } from './support/testnet-fixture.ts'

const CHROMIUM = '/usr/bin/chromium'
/** The little of the DOM the page functions use (the tests are type-checked without the DOM library). */
interface Browser { document: { querySelectorAll: (selector: string) => { length: number } } }
const artifacts = join(root, 'artifacts')

/** Parses Prometheus text exposition format strictly enough to catch a malformed line. */
function parsePrometheus (text: string): Map<string, number> {
  const samples = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) {
      if (line.startsWith('# TYPE') || line.startsWith('# HELP') || line === '') continue
      throw new Error(`unexpected comment line: ${line}`)
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(-?[0-9.eE+-]+|NaN|[+-]Inf)(\s+\d+)?$/.exec(line)
    if (m === null) throw new Error(`not a Prometheus sample line: ${line}`)
    samples.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]))
  }
  return samples
}

const sum = (samples: Map<string, number>, name: string): number => [...samples].filter(([k]) => k === name || k.startsWith(`${name}{`)).reduce((a, [, v]) => a + v, 0)

async function publish (d: RunningDaemon, dir: string): Promise<void> {
  const b = readModuleBundle(dir)
  const res = await d.post('/modules', { task: b.meta.task, module: Buffer.from(b.moduleFile).toString('base64'), distilled: Buffer.from(b.distilledFile!).toString('base64'), samples: 64 })
  assert.equal(res.status, 200, JSON.stringify(res.body))
}

describe('dashboard and metrics', { timeout: 180_000 }, () => {
  let net: Testnet
  const daemons: RunningDaemon[] = []

  before(async () => {
    net = await createTestnet({ sites: 3, method: 'medforge-fusion', params: { budget: 8 } })
    const first = await startDaemon(net.sites[0]!)
    daemons.push(first)
    for (const s of net.sites.slice(1)) daemons.push(await startDaemon(s, { bootstrap: first.addresses }))
    await waitFor('a full mesh', async () => (await Promise.all(daemons.map(async d => (await d.get('/peers')).peers.length))).every(n => n === 2) ? true : undefined)
  })
  after(async () => {
    await Promise.all(daemons.map(async d => { await d.kill() }))
    net?.cleanup()
  })

  it('/metrics parses as Prometheus text and moves when a module is published', async () => {
    const before = parsePrometheus(await (await fetch(`${daemons[1]!.url}/metrics`)).text())
    assert.ok(before.has('medforge_modules_published_total'))
    assert.ok([...before.keys()].some(k => k.startsWith('libp2p_')), 'libp2p\'s own metrics are exported too')
    await publish(daemons[1]!, makeBundle(join(net.base, 'm1'), 'task-1', 'm1'))
    const afterPublisher = await waitFor('the publisher\'s counters', async () => {
      const s = parsePrometheus(await (await fetch(`${daemons[1]!.url}/metrics`)).text())
      return sum(s, 'medforge_merges_total') > sum(before, 'medforge_merges_total') ? s : undefined
    })
    assert.equal(sum(afterPublisher, 'medforge_modules_published_total'), sum(before, 'medforge_modules_published_total') + 1)
    // A toy module and its distilled set are small: they travel attached to the announcement.
    const other = await waitFor('a peer\'s counters', async () => {
      const s = parsePrometheus(await (await fetch(`${daemons[2]!.url}/metrics`)).text())
      return sum(s, 'medforge_attached_blobs_total') >= 2 ? s : undefined
    })
    assert.ok(sum(other, 'medforge_records_accepted_total') >= 1)
    assert.ok(sum(other, 'medforge_attached_blob_bytes_total') > 0)
    assert.equal(sum(other, 'medforge_blob_fetches_total'), 0, 'nothing fetched')
  })

  it('serves the essentials without JavaScript, and a favicon', async () => {
    // Site 0 may still be merging the module published above: the page is read between two equal roots.
    const rootOf = async (): Promise<string> => (await daemons[0]!.get('/status')).networks[0].stateRoot as string
    const { html, stateRoot } = await waitFor('a page read while the state root held still', async () => {
      const before = await rootOf()
      const page = await (await fetch(`${daemons[0]!.url}/`)).text()
      return before === await rootOf() ? { html: page, stateRoot: before } : undefined
    })
    assert.ok(html.includes(`<div id="state-root" class="mono">${stateRoot}</div>`), 'the state root is in the page itself')
    assert.match(html, /<h1 id="institution">Site 0<\/h1>/)
    assert.match(html, /peer\(s\) connected · \d+ module\(s\) ready/)
    assert.ok(!html.includes('{{'), 'every placeholder filled')
    const icon = await fetch(`${daemons[0]!.url}/favicon.ico`)
    assert.deepEqual([icon.status, icon.headers.get('content-type')], [200, 'image/svg+xml'])
  })

  it('renders peers, modules and convergence, updates live, and saves a screenshot', { skip: !existsSync(CHROMIUM) && process.env.CI === undefined ? `${CHROMIUM} is not installed (apt-get install chromium)` : false }, async () => {
    await publish(daemons[2]!, makeBundle(join(net.base, 'm2'), 'task-2', 'm2'))
    await waitFor('convergence on 2 modules', async () => {
      const st = await Promise.all(daemons.map(async d => (await d.get('/status')).networks[0]))
      return new Set(st.map(s => s.stateRoot)).size === 1 && st.every(s => s.moduleCount === 2 && s.agreement.agree) ? true : undefined
    })
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] })
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } })
      const errors: string[] = []
      page.on('pageerror', e => errors.push(e.message))
      await page.goto(`${daemons[0]!.url}/`)
      await page.waitForSelector('body[data-loaded="true"]')
      // The history is there on load, before any live event arrives.
      await page.waitForFunction(() => (globalThis as unknown as Browser).document.querySelectorAll('#events li').length > 0, undefined, { timeout: 5000 })
      const history = await page.$$eval('#events li', items => items.map(i => i.textContent ?? ''))
      assert.ok(history.some(h => h.includes('merge: merged')), history.slice(0, 5).join(' | '))
      assert.equal(await page.textContent('#institution'), 'Site 0')
      const peers = await page.$$eval('#peers tbody tr', rows => rows.map(r => r.textContent ?? ''))
      assert.equal(peers.length, 2)
      assert.ok(peers.some(p => p.includes('Site 1')) && peers.some(p => p.includes('Site 2')), peers.join(' | '))
      assert.equal(await page.$$eval('#modules tbody tr', rows => rows.length), 2)
      const groups = await page.$$eval('#convergence .group', gs => gs.map(g => g.textContent ?? ''))
      assert.equal(groups.length, 1, 'one root: the network agrees')
      for (const name of ['Site 0', 'Site 1', 'Site 2']) assert.ok(groups[0]!.includes(name), groups[0])
      const root = (await daemons[0]!.get('/status')).networks[0].stateRoot as string
      assert.equal(await page.textContent('#state-root'), root)
      assert.match(await page.textContent('#agreement') ?? '', /all 2 peers agree/)
      // Live: a module published now appears without a reload.
      await publish(daemons[1]!, makeBundle(join(net.base, 'm3'), 'task-1', 'm3'))
      // (functions, not strings: the dashboard's content security policy forbids eval)
      await page.waitForFunction(() => (globalThis as unknown as Browser).document.querySelectorAll('#modules tbody tr').length === 3, undefined, { timeout: 30_000 })
      await page.waitForFunction(() => (globalThis as unknown as Browser).document.querySelectorAll('#merges tbody tr').length >= 3, undefined, { timeout: 30_000 })
      assert.ok(await page.$('#chart .uplot') !== null, 'the metrics chart is drawn')
      // A legend naming every series, each in its own colour.
      const legend = await page.$$eval('#chart .u-legend .u-series', rows => rows.map(r => ({ label: r.textContent?.trim() ?? '', colour: (r.querySelector('.u-marker') as unknown as { style: { borderColor: string } } | null)?.style.borderColor ?? '' })))
      const series = legend.filter(l => l.label !== 'merge')
      assert.deepEqual(series.map(l => l.label).sort(), ['task-1 AUC', 'task-1 accuracy', 'task-2 AUC', 'task-2 accuracy'])
      assert.equal(new Set(series.map(l => l.colour)).size, 4, JSON.stringify(series))
      assert.match(await page.textContent('#live') ?? '', /live/)
      mkdirSync(artifacts, { recursive: true })
      const shot = join(artifacts, 'dashboard.png')
      await page.screenshot({ path: shot, fullPage: true })
      assert.ok(readFileSync(shot).length > 10_000)
      assert.deepEqual(errors, [])
    } finally {
      await browser.close()
    }
  })
})
