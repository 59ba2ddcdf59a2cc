// TensorFlow.js backends for training, distillation and evaluation: `wasm` (default, XNNPACK,
// SIMD, one thread under Node), `cpu` (plain JavaScript) and `gpu` (@tensorflow/tfjs-node-gpu with CUDA, loaded
// only when asked for because its install downloads libtensorflow). None of them is used where
// consensus needs bit-identical results: that is vit-det.ts.
import type * as TfModule from '@tensorflow/tfjs'
import { BackendUnavailableError } from '../errors.ts'

export type Tf = typeof TfModule
export type BackendName = 'wasm' | 'cpu' | 'gpu'
export const BACKENDS: readonly BackendName[] = ['wasm', 'cpu', 'gpu']

const loaded = new Map<BackendName, Promise<Tf>>()

async function load (name: BackendName): Promise<Tf> {
  if (name === 'gpu') {
    let mod: Tf
    try {
      // A computed specifier: the package is optional and absent from most installs.
      const specifier = ['@tensorflow', 'tfjs-node-gpu'].join('/')
      mod = await import(specifier) as Tf
    } catch (err) {
      throw new BackendUnavailableError(`the gpu backend needs @tensorflow/tfjs-node-gpu with CUDA and cuDNN (npm install @tensorflow/tfjs-node-gpu); it could not be loaded: ${(err as Error).message.split('\n')[0]}`)
    }
    mod.env().set('PROD', true)
    await mod.setBackend('tensorflow')
    await mod.ready()
    return mod
  }
  const tf = await import('@tensorflow/tfjs')
  // Prod mode silences the "install tfjs-node" banner; inputs are checked before they get here.
  tf.env().set('PROD', true)
  if (name === 'wasm') await import('@tensorflow/tfjs-backend-wasm')
  if (!await tf.setBackend(name)) throw new BackendUnavailableError(`the ${name} backend failed to initialise`)
  await tf.ready()
  return tf
}

/** The TensorFlow.js namespace with `name` as the active backend. */
export async function loadTf (name: BackendName = 'wasm'): Promise<Tf> {
  if (!BACKENDS.includes(name)) throw new BackendUnavailableError(`unknown backend "${String(name)}" (${BACKENDS.join(', ')})`)
  let p = loaded.get(name)
  if (p === undefined) {
    p = load(name)
    loaded.set(name, p)
    p.catch(() => loaded.delete(name))
  }
  const tf = await p
  if (name !== 'gpu' && tf.getBackend() !== name) await tf.setBackend(name)
  return tf
}
