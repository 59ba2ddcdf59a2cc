// `medforge keys` and `medforge network` as a user runs them.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const root = join(import.meta.dirname, '..')
const bin = join(root, 'packages', 'node', 'bin', 'medforge.js')
const medforge = (...args: string[]): { status: number | null, stdout: string, stderr: string } => {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: root })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

describe('medforge keys / network', () => {
  it('creates keys and a manifest, and verify tracks the quorum', () => {
    const dir = mkdtempSync(join(tmpdir(), 'medforge-net-'))
    const peers = [1, 2, 3].map(i => {
      const r = medforge('keys', 'new', '--out', join(dir, `k${i}.json`), '--name', `Hospital ${i}`)
      assert.equal(r.status, 0, r.stderr)
      return r.stdout.trim()
    })
    assert.equal(statSync(join(dir, 'k1.json')).mode & 0o777, 0o600)
    assert.equal(medforge('keys', 'new', '--out', join(dir, 'k1.json')).status, 2, 'refuses to overwrite a key')
    assert.equal(medforge('keys', 'show', join(dir, 'k2.json')).stdout.trim(), `${peers[1]}  Hospital 2`)
    const manifest = join(dir, 'manifest.json')
    // An architecture this build does not have is refused at creation, not later at join.
    const unknown = medforge('network', 'create', '--name', 'Test Net', '--base-model', 'clip-vit-tiny@bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku', '--task', 'p:x:a,b', '--member', join(dir, 'k1.json'), '--out', join(dir, 'never.json'))
    assert.equal(unknown.status, 2)
    assert.match(unknown.stderr, /unknown architecture "clip-vit-tiny" \(this build has medforge-vit-tiny\/v1 and toy-logistic\/v1/)
    const create = medforge('network', 'create', '--name', 'Test Net', '--base-model', 'vit',
      '--task', 'pneumonia:chest-xray:normal,pneumonia', '--member', join(dir, 'k1.json'), '--member', join(dir, 'k2.json'), '--member', join(dir, 'k3.json'),
      '--key', join(dir, 'k1.json'), '--out', manifest)
    assert.equal(create.status, 0, create.stderr)
    const short = medforge('network', 'verify', manifest)
    assert.equal(short.status, 1)
    assert.match(short.stderr, /1 valid signature\(s\) of governing members.*quorum is 2/)
    assert.equal(medforge('network', 'sign', manifest, '--key', join(dir, 'k3.json')).status, 0)
    const ok = medforge('network', 'verify', manifest, '--json')
    assert.equal(ok.status, 0, ok.stderr)
    const info = JSON.parse(ok.stdout)
    assert.deepEqual([...info.valid].sort(), [peers[0], peers[2]].sort())
    assert.equal(info.manifest.members.length, 3)
    // tampering with the body invalidates the signatures
    const file = JSON.parse(readFileSync(manifest, 'utf8'))
    file.body.quorum = 1
    writeFileSync(join(dir, 'tampered.json'), JSON.stringify(file))
    const tampered = medforge('network', 'verify', join(dir, 'tampered.json'))
    assert.equal(tampered.status, 1)
    assert.match(tampered.stderr, /invalid signature/)
    writeFileSync(join(dir, 'broken.json'), '{"body": {}, "signatures": []}')
    const broken = medforge('network', 'verify', join(dir, 'broken.json'))
    assert.equal(broken.status, 1)
    assert.match(broken.stderr, /broken\.json/)
  })
})
