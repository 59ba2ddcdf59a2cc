// `medforge keys …` and `medforge network …`: institution keys and network manifests.
import { parseArgs } from 'node:util'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import {
  DEFAULT_LIMITS, MalformedError, decodeManifestFile, genesisManifestBody, encodeKeyFile, encodeManifestFile, manifestCid, networkCid, newIdentity,
  readKeyFile, restrictKeyFile, signManifest, topics, verifyManifestChain, MEMBER_ROLES, checkSignatures
} from '@medforge/protocol'
import type { Member, MemberRole, SignedManifest, TaskSpec } from '@medforge/protocol'
import { VIT_ARCHITECTURE, VIT_TINY, loadBaseWeights } from '@medforge/clinical'
import { TOY_ARCHITECTURE, toyWeightsCid } from '../daemon/network-model.ts'
import { UsageError } from './usage-error.ts'

/** --base-model: `vit` or `toy` (this build's models and weights), or ARCH@WEIGHTS_CID of one of them. */
function baseModelOf (spec: string): [string, string] {
  const builtIn: Record<string, [string, string]> = { vit: [VIT_ARCHITECTURE, loadBaseWeights().cid], toy: [TOY_ARCHITECTURE, toyWeightsCid()] }
  const named = builtIn[spec]
  if (named !== undefined) return named
  const [architecture, weights] = spec.split('@')
  if (architecture === undefined || weights === undefined || architecture === '' || weights === '') throw new UsageError(`--base-model must be vit, toy or ARCH@WEIGHTS_CID, got "${spec}"`)
  const known = Object.values(builtIn).find(([a]) => a === architecture)
  if (known === undefined) throw new UsageError(`--base-model: unknown architecture "${architecture}" (this build has ${Object.values(builtIn).map(([a]) => a).join(' and ')}; --base-model vit or toy names them with their weights)`)
  if (known[1] !== weights) throw new UsageError(`--base-model: this build's ${architecture} weights are ${known[1]}, not ${weights} (members could not join)`)
  return [architecture, weights]
}

/** The side of the images a base model takes (a task's input size). */
function imageSizeOf (architecture: string): number {
  if (architecture !== VIT_ARCHITECTURE) throw new UsageError(`a task input (grey or rgb) is for image models; ${architecture} is not one`)
  return VIT_TINY.imageSize
}

export const KEYS_HELP = `medforge keys — institution keys (Ed25519; the same key is the daemon's libp2p identity)

  medforge keys new --out FILE [--name NAME]   create a key file (mode 0600); prints the peer id
  medforge keys show FILE                      print the peer id (and name) of a key file
`

export const NETWORK_HELP = `medforge network — network manifests (a consortium or a testnet)

  medforge network create --name NAME --base-model vit|toy|ARCH@WEIGHTS_CID --task SPEC... --member SPEC...
                          --out FILE [--quorum N] [--rank R] [--alpha A] [--targets q_proj,v_proj]
                          [--method medforge-regmean] [--bootstrap MULTIADDR]... [--key FILE]
      --task ID:MODALITY:LABEL,LABEL[,LABEL...][:METRIC[:grey|rgb]]
                   e.g. pneumonia:chest-xray:normal,pneumonia:auc  or  retina:fundus:0,1,2,3,4:auc:rgb
                   (the classes in label order; the input grey or RGB at the base model's size)
      --member PEER_ID:NAME[:ROLE,ROLE] or --member KEY_FILE   roles: ${MEMBER_ROLES.join(', ')}
      --key FILE   sign the new manifest right away
  medforge network sign MANIFEST --key FILE [--out FILE]   add a member's signature
  medforge network verify MANIFEST [REVISION...]          check signatures and quorum along the chain;
                                                          exits 1 with the reason when they fail
  medforge network join MANIFEST [REVISION...] --data-dir DIR   join the network with a daemon's data directory
`

export async function keysCommand (args: string[]): Promise<void> {
  const [sub, ...rest] = args
  if (sub === 'new') {
    const { values } = parseArgs({ args: rest, options: { out: { type: 'string' }, name: { type: 'string' }, force: { type: 'boolean' } } })
    if (values.out === undefined) throw new UsageError('keys new needs --out FILE')
    if (existsSync(values.out) && values.force !== true) throw new UsageError(`${values.out} exists; refusing to overwrite a key (use --force)`)
    const identity = await newIdentity()
    writeFileSync(values.out, encodeKeyFile(identity, values.name), { mode: 0o600 })
    restrictKeyFile(values.out)
    console.log(identity.peerId)
    return
  }
  if (sub === 'show') {
    const { positionals } = parseArgs({ args: rest, allowPositionals: true })
    if (positionals.length !== 1) throw new UsageError('keys show takes one key file')
    const key = readKeyFile(positionals[0]!)
    console.log(key.name === undefined ? key.peerId : `${key.peerId}  ${key.name}`)
    return
  }
  throw new UsageError(`unknown keys command "${sub ?? ''}" (new, show)`)
}

export function readManifest (path: string): SignedManifest {
  if (!existsSync(path)) throw new UsageError(`no manifest at ${path}`)
  try {
    return decodeManifestFile(readFileSync(path, 'utf8'))
  } catch (err) {
    if (err instanceof MalformedError) throw new MalformedError(`manifest ${path}`, err.message.replace(/^malformed manifest: /, ''))
    throw err
  }
}

/** --task ID:MODALITY:LABEL,LABEL[,...][:METRIC[:grey|rgb]] as a task of the registry. */
export function parseTaskSpec (spec: string, architecture: string): TaskSpec {
  const [id, modality, labels, metric, input] = spec.split(':')
  if (id === undefined || modality === undefined || labels === undefined) throw new UsageError(`--task "${spec}" must be ID:MODALITY:LABEL,LABEL[:METRIC[:grey|rgb]]`)
  if (input !== undefined && input !== 'grey' && input !== 'rgb') throw new UsageError(`--task "${spec}": the input is grey or rgb, got "${input}"`)
  const task = { id, modality, labels: labels.split(','), metric: metric ?? 'auc' }
  return input === undefined ? task : { ...task, input: { channels: input === 'rgb' ? 3 : 1, size: imageSizeOf(architecture) } }
}

/** --member PEER_ID:NAME[:ROLE,ROLE] or a key file (a contributor named as in the file). */
export function parseMemberSpec (spec: string): Member {
  if (existsSync(spec)) {
    const key = readKeyFile(spec)
    return { peerId: key.peerId, name: key.name ?? key.peerId.slice(-8), roles: ['contributor'] }
  }
  const [peerId, name, roles] = spec.split(':')
  if (peerId === undefined || name === undefined) throw new UsageError(`--member "${spec}" must be PEER_ID:NAME[:ROLES] or a key file`)
  return { peerId, name, roles: parseRoles(roles ?? 'contributor', spec) }
}

export function parseRoles (text: string, where: string): MemberRole[] {
  const roles = text.split(',')
  for (const r of roles) if (!(MEMBER_ROLES as readonly string[]).includes(r)) throw new UsageError(`${where}: unknown role "${r}" (roles: ${MEMBER_ROLES.join(', ')})`)
  return roles as MemberRole[]
}

export async function networkCommand (args: string[]): Promise<void> {
  const [sub, ...rest] = args
  if (sub === 'create') return await networkCreate(rest)
  if (sub === 'sign') {
    const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { key: { type: 'string' }, out: { type: 'string' } } })
    if (positionals.length !== 1 || values.key === undefined) throw new UsageError('network sign takes MANIFEST --key FILE')
    const signed = await signManifest(readManifest(positionals[0]!), readKeyFile(values.key))
    writeFileSync(values.out ?? positionals[0]!, encodeManifestFile(signed))
    console.log(`signed ${manifestCid(signed.body)} (${signed.signatures.length} signature(s))`)
    return
  }
  if (sub === 'verify') {
    const { positionals, values } = parseArgs({ args: rest, allowPositionals: true, options: { json: { type: 'boolean' } } })
    if (positionals.length === 0) throw new UsageError('network verify takes MANIFEST [REVISION...]')
    const chain = positionals.map(readManifest)
    const { current, network, revoked } = await verifyManifestChain(chain)
    const authority = chain.length > 1 ? chain[chain.length - 2]!.body : current
    const { valid } = await checkSignatures(current, chain[chain.length - 1]!.signatures, authority.members)
    if (values.json === true) { console.log(JSON.stringify({ network, revision: current.revision, cid: manifestCid(current), valid, revoked: [...revoked], manifest: current }, null, 2)); return }
    console.log([
      `network    ${current.name} (${current.networkId}), ${network}`,
      `revision   ${current.revision}  ${manifestCid(current)}  quorum holds: ${valid.length} of ${authority.members.length} member(s) signed, ${authority.quorum} needed`,
      `topics     ${topics(network).modules}  ${topics(network).state}`,
      `base model ${current.baseModel.architecture} ${current.baseModel.weights}`,
      `LoRA       targets ${current.lora.targets.join(', ')}, rank ${current.lora.rank}, alpha ${current.lora.alpha}`,
      `merge      ${current.merge.method} ${JSON.stringify(current.merge.params)}`,
      `limits     module ${current.limits.maxModuleBytes} bytes, message ${current.limits.maxMessageBytes} bytes`,
      'tasks',
      ...current.tasks.map(t => `  ${t.id.padEnd(12)} ${t.modality.padEnd(20)} labels ${t.labels.join(', ')}  metric ${t.metric}  input ${t.input === undefined || t.input.channels === 1 ? 'grey' : 'RGB'}${t.input === undefined ? '' : ` ${t.input.size}x${t.input.size}`}`),
      'members',
      ...current.members.map(m => `  ${m.peerId}  ${m.name}  (${m.roles.join(', ')})${valid.includes(m.peerId) ? '  signed' : ''}`),
      ...(revoked.size > 0 ? ['revoked', ...[...revoked].map(p => `  ${p}`)] : []),
      `bootstrap  ${current.bootstrap.join(' ') || '(none)'}`
    ].join('\n'))
    return
  }
  throw new UsageError(`unknown network command "${sub ?? ''}" (create, sign, verify)`)
}

async function networkCreate (args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      name: { type: 'string' }, id: { type: 'string' }, 'base-model': { type: 'string' }, task: { type: 'string', multiple: true },
      member: { type: 'string', multiple: true }, quorum: { type: 'string' }, rank: { type: 'string' }, alpha: { type: 'string' },
      targets: { type: 'string' }, method: { type: 'string' }, bootstrap: { type: 'string', multiple: true }, out: { type: 'string' },
      key: { type: 'string' }, 'max-module-bytes': { type: 'string' }, 'max-message-bytes': { type: 'string' }
    }
  })
  if (values.name === undefined || values.out === undefined || values['base-model'] === undefined) throw new UsageError('network create needs --name, --base-model and --out')
  const [architecture, weights] = baseModelOf(values['base-model'])
  const tasks = (values.task ?? []).map(spec => parseTaskSpec(spec, architecture))
  const members = (values.member ?? []).map(parseMemberSpec)
  const num = (v: string | undefined, fallback: number, flag: string): number => {
    if (v === undefined) return fallback
    const n = Number(v)
    if (!Number.isFinite(n)) throw new UsageError(`${flag} must be a number, got "${v}"`)
    return n
  }
  const body = genesisManifestBody({
    networkId: values.id ?? values.name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, ''),
    name: values.name,
    baseModel: { architecture, weights },
    tasks,
    lora: { targets: (values.targets ?? 'q_proj,v_proj').split(','), rank: num(values.rank, 4, '--rank'), alpha: num(values.alpha, 8, '--alpha') },
    merge: { method: values.method ?? 'medforge-regmean' },
    members,
    quorum: num(values.quorum, Math.floor(members.length / 2) + 1, '--quorum'),
    limits: { maxModuleBytes: num(values['max-module-bytes'], DEFAULT_LIMITS.maxModuleBytes, '--max-module-bytes'), maxMessageBytes: num(values['max-message-bytes'], DEFAULT_LIMITS.maxMessageBytes, '--max-message-bytes') },
    bootstrap: values.bootstrap ?? []
  })
  let manifest: SignedManifest = { body, signatures: [] }
  if (values.key !== undefined) manifest = await signManifest(manifest, readKeyFile(values.key))
  writeFileSync(values.out, encodeManifestFile(manifest))
  console.log(`network ${networkCid(body)} written to ${values.out} (${manifest.signatures.length} of ${body.quorum} signatures needed so far)`)
}
