// `medforge init` and `network join` refuse what they must, with a message and exit status.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encodeManifestFile, genesisManifestBody, readKeyFile, signManifest } from '@medforge/protocol'
import { bin, root } from './support/testnet-fixture.ts'

const medforge = (...args: string[]): { status: number | null, stdout: string, stderr: string } => {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: root })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

describe('medforge init / network join', () => {
  it('initialises a data directory once, with private key and token files', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'medforge-init-')), 'dd')
    const r = medforge('init', '--name', 'General Hospital', '--data-dir', dir)
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /peer id {2}12D3KooW/)
    assert.equal(statSync(join(dir, 'key.json')).mode & 0o777, 0o600)
    assert.equal(statSync(join(dir, 'api-token')).mode & 0o777, 0o600)
    const again = medforge('init', '--name', 'Other', '--data-dir', dir)
    assert.equal(again.status, 1)
    assert.match(again.stderr, /already initialised/)
    const daemon = medforge('daemon', '--data-dir', dir)
    assert.equal(daemon.status, 1)
    assert.match(daemon.stderr, /no network joined/)
    assert.equal(medforge('status', '--data-dir', dir).status, 1, 'no running daemon')
  })

  it('joins a toy network, and refuses a manifest whose base model this build lacks', async () => {
    const base = mkdtempSync(join(tmpdir(), 'medforge-join-'))
    const dir = join(base, 'dd')
    assert.equal(medforge('init', '--name', 'H', '--data-dir', dir).status, 0)
    const toyBase = medforge('toy', 'base-model').stdout.trim()
    for (const [name, model, ok] of [['toy', toyBase, true], ['unknown', 'clip-vit-huge@bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku', false]] as const) {
      const manifest = join(base, `${name}.json`)
      if (ok) {
        const create = medforge('network', 'create', '--name', name, '--base-model', model, '--task', 't:x:a,b', '--member', join(dir, 'key.json'), '--key', join(dir, 'key.json'), '--rank', '2', '--alpha', '4', '--targets', 'encoder', '--out', manifest)
        assert.equal(create.status, 0, create.stderr)
      } else {
        // This build's `network create` refuses the model; a manifest made by another build is
        // still refused at join.
        const key = readKeyFile(join(dir, 'key.json'))
        const [architecture, weights] = model.split('@') as [string, string]
        const body = genesisManifestBody({ networkId: name, name, baseModel: { architecture, weights }, tasks: [{ id: 't', modality: 'x', labels: ['a', 'b'], metric: 'auc' }], lora: { targets: ['encoder'], rank: 2, alpha: 4 }, merge: { method: 'linear' }, members: [{ peerId: key.peerId, name: 'H', roles: ['contributor'] }], quorum: 1 })
        writeFileSync(manifest, encodeManifestFile(await signManifest({ body, signatures: [] }, key)))
      }
      const join_ = medforge('network', 'join', manifest, '--data-dir', dir)
      if (ok) {
        assert.equal(join_.status, 0, join_.stderr)
        assert.match(join_.stdout, /member as H/)
        assert.equal((JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { networks: string[] }).networks.length, 1)
      } else {
        assert.equal(join_.status, 1)
        assert.match(join_.stderr, /not available in this build/)
      }
    }
    const tampered = join(base, 'tampered.json')
    const text = readFileSync(join(base, 'toy.json'), 'utf8').replace('"quorum": 1', '"quorum": 1 ').replace('"name": "toy"', '"name": "toy2"')
    writeFileSync(tampered, text)
    const refused = medforge('network', 'join', tampered, '--data-dir', dir)
    assert.equal(refused.status, 1)
    assert.match(refused.stderr, /signature/)
  })
})
