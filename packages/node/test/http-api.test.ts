// The HTTP API of a daemon running in-process: reads, the bearer token on writes, and a clear
// refusal (status and reason) for every bad publication.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ToyModel, encodeDistilledSet, encodeModuleFile, newLoraConfig } from '@medforge/merge-core'
import { startDaemon } from '../src/daemon/daemon.ts'
import type { Daemon } from '../src/daemon/daemon.ts'
import { joinedDataDir } from './support.ts'

const model = new ToyModel()
const module = model.train('a', model.makeData('a', 32, 'api'), { epochs: 10, seed: 'api' })
const set = model.makeData('a', 4, 'api-d')
const distilled = encodeDistilledSet({ task: 'a', inputs: { shape: [4, model.spec.inputs], data: set.x }, labels: set.y })
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64')

describe('HTTP API', () => {
  let daemon: Daemon
  let token: string

  before(async () => {
    const { dataDir } = await joinedDataDir({ method: 'linear' }, { maxModuleBytes: 64 * 1024, maxMessageBytes: 16384 })
    daemon = await startDaemon({ dataDir: dataDir.dir })
    token = dataDir.apiToken()
  })
  after(async () => { await daemon.stop() })

  const post = async (path: string, body: unknown, auth = true): Promise<{ status: number, json: Record<string, unknown> }> => {
    const res = await fetch(`${daemon.api.url}${path}`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: auth ? { authorization: `Bearer ${token}` } : {} })
    return { status: res.status, json: await res.json() as Record<string, unknown> }
  }

  it('serves status, peers, modules, composite and attestations as JSON', async () => {
    for (const path of ['/status', '/peers', '/modules', '/composite', '/attestations', '/merges', '/events']) {
      const res = await fetch(`${daemon.api.url}${path}`)
      assert.equal(res.status, 200, path)
      assert.match(res.headers.get('content-type') ?? '', /application\/json/)
    }
    const status = await (await fetch(`${daemon.api.url}/status`)).json() as { peerId: string, networks: Array<{ stateRoot: string, moduleCount: number }> }
    assert.equal(status.peerId, daemon.peerId)
    assert.equal(status.networks[0]!.moduleCount, 0)
    const nope = await fetch(`${daemon.api.url}/nope`)
    assert.deepEqual([nope.status, ((await nope.json()) as { code: string }).code], [404, 'ERR_NOT_FOUND'])
    // An unknown network is a 404 on every endpoint, /status included.
    for (const path of ['/status', '/modules', '/composite']) {
      const res = await fetch(`${daemon.api.url}${path}?network=bafyreiunknownnetwork`)
      assert.deepEqual([res.status, ((await res.json()) as { code: string }).code], [404, 'ERR_NOT_JOINED'], path)
    }
  })

  it('refuses writes without the token, and bad bodies with the reason', async () => {
    const unauthorised = await post('/modules', { task: 'a', module: b64(encodeModuleFile(module)), distilled: b64(distilled) }, false)
    assert.deepEqual([unauthorised.status, unauthorised.json.code], [401, 'ERR_UNAUTHORIZED'])
    assert.equal((await post('/modules', 'not json')).status, 400)
    const unknownTask = await post('/modules', { task: 'zzz', module: b64(encodeModuleFile(module)), distilled: b64(distilled) })
    assert.equal(unknownTask.status, 422)
    assert.equal(unknownTask.json.reason, 'unknown_task')
    const wrongRank = { ...module, config: newLoraConfig({ baseModel: model.id, r: 3, loraAlpha: 6, targetModules: ['encoder'], modulesToSave: ['head'] }) }
    const rank = await post('/modules', { task: 'a', module: b64(encodeModuleFile(wrongRank)), distilled: b64(distilled) })
    assert.equal(rank.status, 422)
    assert.match(String(rank.json.error), /rank|lora_A/)
    const garbage = await post('/modules', { task: 'a', module: b64(Uint8Array.of(1, 2, 3)), distilled: b64(distilled) })
    assert.equal(garbage.status, 422)
    assert.match(String(garbage.json.error), /safetensors/)
    const big = await post('/modules', { task: 'a', module: 'A'.repeat(200 * 1024), distilled: '' })
    assert.equal(big.status, 413)
    assert.equal((await (await fetch(`${daemon.api.url}/status`)).json() as { networks: Array<{ moduleCount: number }> }).networks[0]!.moduleCount, 0, 'nothing was admitted')
  })

  it('answers only IP literals, localhost and allowed names in Host (DNS rebinding), before any route', async () => {
    // Issue 14, finding 8: a request with Host: evil.example was answered, so a rebinding page could read every GET endpoint.
    const { request } = await import('node:http')
    const get = async (host: string, path = '/status'): Promise<{ status: number, body: string }> => await new Promise((resolve, reject) => {
      const u = new URL(daemon.api.url)
      request({ host: u.hostname, port: u.port, path, headers: { host } }, res => {
        let body = ''
        res.on('data', (d: Buffer) => { body += d.toString() })
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, body }) })
      }).on('error', reject).end()
    })
    for (const path of ['/status', '/', '/metrics', '/peers']) {
      const evil = await get('evil.example:4718', path)
      assert.equal(evil.status, 421, path)
      assert.equal((JSON.parse(evil.body) as { code: string }).code, 'ERR_HOST_NOT_ALLOWED')
    }
    for (const host of [new URL(daemon.api.url).host, 'localhost:4718', '127.0.0.1', '[::1]:80']) assert.equal((await get(host)).status, 200, host)
    const { hostAllowed } = await import('../src/api/http-api.ts')
    assert.equal(hostAllowed('medforge.hospital-a.example', new Set(['medforge.hospital-a.example'])), true, 'an allowed name')
    assert.equal(hostAllowed(undefined, new Set()), false)
  })

  it('refuses a null or non-object body and an invalid peer id with 400 and a code, changing nothing', async () => {
    // Issue 14, finding 8: a null body answered 500; an invalid peer id answered 500 after joining the blocked set.
    for (const body of ['null', '[]', '"x"', '7']) {
      const r = await post('/peers/block', body)
      assert.equal(r.status, 400, body)
      assert.equal(r.json.code, 'ERR_BAD_REQUEST')
    }
    const bad = await post('/peers/block', { peerId: 'not-a-peer-id' })
    assert.equal(bad.status, 400)
    assert.match(String(bad.json.error), /not a peer id/)
    assert.equal(daemon.blocked.has('not-a-peer-id'), false, 'nothing was added to the blocked set')
    assert.equal((await post('/modules', 'null')).status, 400)
  })

  it('publishes a module and merges it', async () => {
    const res = await post('/modules', { task: 'a', module: b64(encodeModuleFile(module)), distilled: b64(distilled), samples: 32 })
    assert.equal(res.status, 200, JSON.stringify(res.json))
    assert.equal(res.json.height, 1)
    for (let i = 0; i < 50 && daemon.runtime().head().moduleCount === 0; i++) await new Promise(r => setTimeout(r, 50))
    assert.equal(daemon.runtime().head().moduleCount, 1)
    const again = await post('/modules', { task: 'a', module: b64(encodeModuleFile(module)), distilled: b64(distilled), samples: 32 })
    assert.equal(again.status, 200, 'the same module may be re-announced; it still counts once')
    for (let i = 0; i < 20; i++) await new Promise(r => setTimeout(r, 25))
    assert.equal(daemon.runtime().head().moduleCount, 1)
  })
})
