// A site with its own data: a network registers a colour 5-class task and a 3-class image task;
// the site inspects its files, trains on them with `medforge train` and scores them with
// `medforge eval`, with no code change. The files are generated (the repository has no colour
// medical data): a RetinaMNIST-shaped .npz and a folder of PNG and JPEG files of mixed sizes.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { VIT_ARCHITECTURE, loadBaseWeights, syntheticColourNpz, writeSyntheticImageFolder } from '@medforge/clinical'
import { newIdentity } from '@medforge/protocol'
import { bin, root } from './support/testnet-fixture.ts'

const medforge = (...args: string[]): { status: number | null, stdout: string, stderr: string } => {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: root })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

describe('a site\'s own data, any task the network registers', { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'medforge-site-data-'))
  const manifest = join(dir, 'net.json')

  it('the network registers a colour 5-class task and a 3-class task', async () => {
    const site = await newIdentity()
    const c = medforge('network', 'create', '--name', 'Own data', '--base-model', `${VIT_ARCHITECTURE}@${loadBaseWeights().cid}`,
      '--task', 'retina:fundus:0,1,2,3,4:auc:rgb', '--task', 'lesions:dermatoscopy:benign,malignant,normal:auc:rgb',
      '--member', `${site.peerId}:Site`, '--out', manifest)
    assert.equal(c.status, 0, c.stderr)
  })

  it('a colour 5-class MedMNIST-format .npz trains and evaluates (macro AUC, accuracy) on its test split', () => {
    const npz = join(dir, 'retina.npz')
    writeFileSync(npz, syntheticColourNpz({ classes: 5, counts: { train: 200, val: 40, test: 100 }, seed: 'retina' }))
    const inspect = medforge('data', 'inspect', npz)
    assert.equal(inspect.status, 0, inspect.stderr)
    assert.match(inspect.stdout, /classes +0, 1, 2, 3, 4/)
    assert.match(inspect.stdout, /test +100 images +per class 20 \/ 20 \/ 20 \/ 20 \/ 20/)
    assert.match(inspect.stdout, /channels +colour \(340\)/)
    const out = join(dir, 'retina-bundle')
    const t = medforge('train', '--manifest', manifest, '--task', 'retina', '--data', npz, '--epochs', '3', '--ipc', '2', '--distill-iterations', '5', '--out', out)
    assert.equal(t.status, 0, t.stderr)
    assert.match(t.stdout, /retina: 200 training images \(per class 40\/40\/40\/40\/40\), 40 validation, RGB 28x28/)
    const e = medforge('eval', '--manifest', manifest, '--task', 'retina', '--data', npz, out, '--json')
    assert.equal(e.status, 0, e.stderr)
    const m = JSON.parse(e.stdout) as { count: number, accuracy: number, auc: number, confusion: number[][] }
    assert.deepEqual([m.count, m.confusion.length], [100, 5])
    assert.ok(m.auc > 0.8, `the generated signal is learnable: macro AUC ${m.auc}`)
    assert.ok(m.accuracy > 0.4, `accuracy ${m.accuracy} (chance 0.2)`)
  })

  it('an image folder of PNG and JPEG files of mixed sizes, three classes, trains and evaluates', () => {
    const folder = join(dir, 'lesions')
    for (const [split, n] of [['train', 40], ['test', 12]] as const) writeSyntheticImageFolder(join(folder, split), { classes: ['benign', 'malignant', 'normal'], perClass: n, seed: split })
    const out = join(dir, 'lesions-bundle')
    const t = medforge('train', '--manifest', manifest, '--task', 'lesions', '--data', folder, '--epochs', '3', '--ipc', '2', '--distill-iterations', '5', '--out', out)
    assert.equal(t.status, 0, t.stderr)
    assert.match(t.stdout, /validation \(drawn from train, seeded\)/)
    const e = medforge('eval', '--manifest', manifest, '--task', 'lesions', '--data', folder, out)
    assert.equal(e.status, 0, e.stderr)
    assert.match(e.stdout, /lesions \(.*lesions test, 36 images\): ACC \d\.\d+ {2}AUC \d\.\d+ .*one-vs-rest macro/)
    assert.match(e.stdout, /confusion \(rows true benign\/malignant\/normal/)
  })

  it('refuses a site\'s mistakes with the file and the problem named, and writes nothing', () => {
    const bad = join(dir, 'bad')
    writeSyntheticImageFolder(bad, { classes: ['benign', 'malignant', 'cyst'], perClass: 2 })
    const out = join(dir, 'never')
    const r = medforge('train', '--manifest', manifest, '--task', 'lesions', '--data', bad, '--out', out)
    assert.equal(r.status, 1)
    assert.match(r.stderr, /bad\/cyst: unknown class folder "cyst" \(the task's classes: benign, malignant, normal\)/)
    assert.equal(existsSync(out), false)
    const unknown = medforge('train', '--manifest', manifest, '--task', 'pneumonia', '--data', bad, '--out', out)
    assert.match(unknown.stderr, /network "Own data" has no task "pneumonia" \(its tasks: retina, lesions\)/)
    const grey = join(dir, 'grey.npz')
    writeFileSync(grey, syntheticColourNpz({ classes: 5, counts: { train: 10, val: 5, test: 0 } }).slice(0, 40))
    assert.match(medforge('data', 'inspect', grey).stderr, /grey\.npz: invalid npz/)
  })
})
