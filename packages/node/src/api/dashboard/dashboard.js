// The operator dashboard: reads the daemon's JSON API and refreshes on every server-sent event.
'use strict'

const $ = (id) => document.getElementById(id)
const short = (s, n = 10) => (s === null || s === undefined) ? '–' : (s.length > 2 * n + 1 ? `${s.slice(0, n)}…${s.slice(-n)}` : s)
const time = (ms) => new Date(ms).toLocaleTimeString()
const bytes = (n) => n === null || n === undefined ? '–' : n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(1)} MiB`
const text = (s) => document.createTextNode(String(s))

function cell (content, cls) {
  const td = document.createElement('td')
  if (cls) td.className = cls
  td.append(content instanceof Node ? content : text(content))
  return td
}

function fillTable (id, rows) {
  const body = $(id).querySelector('tbody')
  body.replaceChildren(...rows.map(cells => {
    const tr = document.createElement('tr')
    tr.append(...cells)
    return tr
  }))
}

async function get (path) {
  const res = await fetch(path, { cache: 'no-store' })
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`)
  return await res.json()
}

let names = new Map()
let chart
const SERIES_COLOURS = ['#58a6ff', '#f0883e', '#3fb950', '#db61a2', '#d29922', '#bc8cff', '#39c5cf', '#ff7b72']
const state = { status: null }

function renderStatus (status, attestations) {
  state.status = status
  const net = status.networks[0]
  $('institution').textContent = status.name
  $('peer-id').textContent = status.peerId
  if (net === undefined) return
  $('network-name').textContent = `${net.name} · ${net.method}`
  $('state-root').textContent = net.stateRoot
  const badge = $('agreement')
  if (net.agreement.peersHeard === 0) { badge.textContent = 'no attestations heard yet'; badge.className = 'badge' }
  else if (net.agreement.agree) { badge.textContent = `all ${net.agreement.peersHeard} peers agree`; badge.className = 'badge ok' }
  else { badge.textContent = 'peers disagree'; badge.className = 'badge bad' }
  const groups = net.agreement.roots
  const largest = Math.max(0, ...groups.map(g => g.peers.length))
  $('convergence').replaceChildren(...groups.map(g => {
    const div = document.createElement('div')
    div.className = `group ${g.peers.length === largest ? 'majority' : 'minority'}`
    div.dataset.root = g.stateRoot
    const head = document.createElement('div')
    head.className = 'mono'
    head.textContent = `${g.stateRoot}  ·  height ${g.height}, ${g.moduleCount} module(s)${g.stateRoot === net.stateRoot ? '  ·  this daemon' : ''}`
    const who = document.createElement('div')
    who.textContent = g.peers.map(p => names.get(p) ?? short(p, 6)).join(', ')
    div.append(head, who)
    return div
  }))
  const refusals = Object.entries(net.refusals)
  const max = Math.max(1, ...refusals.map(([, v]) => v))
  fillTable('refusals', refusals.length === 0
    ? [[cell('none so far'), cell(''), cell('')]]
    : refusals.sort((a, b) => b[1] - a[1]).map(([code, n]) => {
      const bar = document.createElement('div')
      bar.className = 'bar'
      bar.style.width = `${Math.round(100 * n / max)}%`
      return [cell(code, 'mono'), cell(n), cell(bar)]
    }))
  void attestations
}

function renderPeers (peers) {
  $('peer-count').textContent = `(${peers.length})`
  fillTable('peers', peers.map(p => [
    cell(p.name ?? 'not a member'),
    cell(short(p.peerId, 8), 'mono'),
    cell((p.addresses.find(a => !a.includes('/127.0.0.1/')) ?? p.addresses[0] ?? p.connections[0] ?? '–').replace(/\/p2p\/.*$/, ''), 'mono'),
    cell(p.status),
    cell(p.latencyMs === null ? '–' : `${p.latencyMs} ms`),
    cell(p.gossipScore.toFixed(1)),
    cell(p.topics.map(t => t.split('/').slice(-2, -1)[0]).join(', '))
  ]))
}

function renderModules (modules) {
  $('module-count').textContent = `(${modules.length})`
  const rows = [...modules].sort((a, b) => a.admittedAt - b.admittedAt)
  fillTable('modules', rows.map(m => [
    cell(time(m.admittedAt)),
    cell(names.get(m.author) ?? short(m.author, 6)),
    cell(m.task),
    cell(m.height),
    cell(bytes(m.bytes)),
    cell(short(m.cid, 8), 'mono'),
    cell(short(m.parentRoot, 6), 'mono'),
    cell(m.status === 'invalid' || m.status === 'revoked' ? `${m.status}: ${m.reason ?? ''}` : m.status, `status-${m.status}`)
  ]))
}

function renderMerges (merges) {
  // The API lists merges in time order: the table shows the latest first, the chart runs in time.
  fillTable('merges', [...merges].reverse().slice(0, 30).map(m => [
    cell(time(m.finishedAt)),
    cell(m.method),
    cell(m.moduleCount),
    cell(short(m.stateRoot, 10), 'mono'),
    cell((m.details.steps ?? []).map(s => `[${s.coefficients.map(c => c.toFixed(2)).join(', ')}]${s.tasks ? ` (${Object.entries(s.tasks).map(([t, v]) => `${t} ${v.toFixed(3)}`).join(', ')})` : ''}`).join(' ') || (m.details.weights ? `weights ${m.details.weights.map(w => w.toFixed(2)).join(', ')}` : '–'), 'mono'),
    cell(`${m.finishedAt - m.startedAt} ms`)
  ]))
  const withMetrics = merges.filter(m => m.moduleCount > 0 && m.details.metrics && Object.keys(m.details.metrics).length > 0)
  const tasks = [...new Set(withMetrics.flatMap(m => Object.keys(m.details.metrics)))].sort()
  const xs = withMetrics.map((_, i) => i + 1)
  const series = tasks.flatMap(t => [
    withMetrics.map(m => m.details.metrics[t] ? m.details.metrics[t].accuracy : null),
    withMetrics.map(m => m.details.metrics[t] ? m.details.metrics[t].auc : null)
  ])
  const latest = withMetrics.at(-1)
  $('composite').replaceChildren(...(latest === undefined ? [text('no composite yet')] : tasks.map(t => {
    const m = latest.details.metrics[t]
    const div = document.createElement('div')
    div.className = 'mono'
    div.textContent = m ? `${t}: accuracy ${m.accuracy.toFixed(3)}, AUC ${Number.isFinite(m.auc) ? m.auc.toFixed(3) : '–'} on ${m.samples} distilled samples (latest merge, ${latest.moduleCount} modules)` : `${t}: –`
    return div
  })))
  if (typeof uPlot === 'undefined' || xs.length === 0) return
  // One colour per series (accuracy and AUC of each task), points drawn so that lines lying on
  // top of each other (a perfect score) still show, and a static legend naming every colour.
  const opts = {
    width: Math.max(320, $('chart').clientWidth || 520),
    height: 220,
    scales: { x: { time: false }, y: { range: [0, 1.02] } },
    legend: { live: false },
    axes: [{ stroke: '#8a96a3', label: 'merge number (in order; the lineage table has the module counts)', incrs: [1, 2, 5, 10, 20, 50, 100] }, { stroke: '#8a96a3', label: 'score on the distilled sets' }],
    series: [{ label: 'merge' }, ...tasks.flatMap((t, i) => [
      { label: `${t} accuracy`, stroke: SERIES_COLOURS[(2 * i) % SERIES_COLOURS.length], width: 2, points: { show: true, size: 6 } },
      { label: `${t} AUC`, stroke: SERIES_COLOURS[(2 * i + 1) % SERIES_COLOURS.length], dash: [6, 4], width: 2, points: { show: true, size: 9, fill: 'transparent' } }
    ])]
  }
  const data = [xs, ...series]
  if (chart && chart.series.length === opts.series.length) chart.setData(data)
  else { if (chart) chart.destroy(); $('chart').replaceChildren(); chart = new uPlot(opts, data, $('chart')) }
}

function addEvent (name, detail) {
  const li = document.createElement('li')
  const what = name === 'record' ? `${detail.type} via ${detail.source}`
    : name === 'refusal' ? `refused (${detail.code}): ${detail.detail}`
      : name === 'merge' ? `merged ${detail.moduleCount} module(s) → ${short(detail.stateRoot, 8)} in ${Math.round(detail.ms)} ms`
        : name === 'fetch' ? `fetched ${bytes(detail.bytes)} ${short(detail.cid, 6)}`
          : name === 'blob-attached' ? `received ${bytes(detail.bytes)} ${short(detail.cid, 6)} with its announcement`
          : name === 'attestation' ? `${names.get(detail.author) ?? short(detail.author, 6)} attests ${short(detail.stateRoot, 8)}`
            : name === 'module-ready' ? `module ${short(detail.cid, 6)} verified and ready to merge`
              : name === 'published' ? `published a ${detail.task} module ${short(detail.module, 6)}`
                : name === 'module-invalid' ? `module ${short(detail.cid, 6)} refused (${detail.reason}): ${detail.detail}`
                  : name === 'storage-error' ? `cannot store ${detail.what}: ${detail.error}`
                  : name === 'fetch-failed' ? `fetch of ${short(detail.cid, 6)} from ${names.get(detail.peer) ?? short(detail.peer, 6)} failed: ${detail.error}`
                    : JSON.stringify(detail)
  li.append(text(`${time(detail.at ?? Date.now())} `))
  const span = document.createElement('span')
  span.textContent = `${name}: ${what}`
  li.append(span)
  $('events').prepend(li)
  while ($('events').children.length > 100) $('events').lastChild.remove()
}

async function refresh () {
  const [status, peers, modules, merges, attestations] = await Promise.all([get('/status'), get('/peers'), get('/modules'), get('/merges'), get('/attestations')])
  names = new Map(peers.peers.filter(p => p.name).map(p => [p.peerId, p.name]))
  names.set(status.peerId, status.name)
  renderStatus(status, attestations.attestations)
  renderPeers(peers.peers)
  renderModules(modules.modules)
  renderMerges(merges.merges)
  $('first-paint')?.remove() // the server's snapshot: the live page now shows all of it
  document.body.dataset.loaded = 'true'
}

let pending
function scheduleRefresh () {
  if (pending) return
  pending = setTimeout(() => { pending = undefined; refresh().catch(err => { $('live').textContent = `refresh failed: ${err.message}` }) }, 300)
}

function connect () {
  const source = new EventSource('/events/stream')
  source.onopen = () => { $('live').textContent = 'live'; $('live').className = 'live on' }
  source.onerror = () => { $('live').textContent = 'reconnecting…'; $('live').className = 'live' }
  for (const name of ['record', 'refusal', 'attestation', 'fetch', 'blob-attached', 'fetch-failed', 'module-ready', 'merge', 'published', 'module-invalid', 'storage-error']) {
    source.addEventListener(name, (e) => { addEvent(name, JSON.parse(e.data)); scheduleRefresh() })
  }
}

// The history first (the daemon keeps the last events), then live events on top of it.
get('/events?limit=50').then(r => { for (const e of r.events) addEvent(e.name, { ...e.detail, at: e.at }) }).catch(() => {})
refresh().catch(err => { $('live').textContent = `cannot load: ${err.message}` })
connect()
setInterval(scheduleRefresh, 5000) // latency and scores change without events
