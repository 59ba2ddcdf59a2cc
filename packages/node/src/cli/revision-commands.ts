// `medforge network revise | publish-revision`: how a consortium grows. A revision is the next
// manifest of the chain (add or remove a member, change roles, add a task, change bootstrap
// addresses); members sign it with `network sign`; once it carries a quorum, any member hands it
// to its daemon, which applies it and gossips it, and every member applies it live.
import { readFileSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { checkSignatures, encodeManifestFile, governingMembers, manifestCid, readKeyFile, signManifest, verifyManifestChain } from '@medforge/protocol'
import type { ManifestBody, SignedManifest } from '@medforge/protocol'
import { callApi } from './api-client.ts'
import { dataDirOf, dataDirOption } from './daemon-commands.ts'
import { parseMemberSpec, parseRoles, parseTaskSpec, readManifest } from './network-commands.ts'
import { UsageError } from './usage-error.ts'

export const REVISION_HELP = `  medforge network revise (--data-dir DIR | MANIFEST [REVISION...]) --out FILE [--key FILE]
        [--add-member PEER_ID:NAME[:ROLES] | --add-member KEY_FILE]... [--remove-member PEER_ID]...
        [--role PEER_ID:ROLE,ROLE]... [--add-task SPEC]... [--bootstrap MULTIADDR]... [--clear-bootstrap]
      the next revision of the network (from a joined daemon's chain, or the chain's files); sign
      it with --key or 'network sign', then hand it over with 'network publish-revision'
  medforge network publish-revision FILE --data-dir DIR
      hands a quorum-signed revision to the running daemon: applied at once and gossiped, so
      every member applies it (late joiners get it by sync)
`

async function currentChain (values: { 'data-dir'?: string | undefined }, files: string[]): Promise<SignedManifest[]> {
  if (files.length > 0) return files.map(readManifest)
  const dataDir = dataDirOf(values)
  dataDir.requireInitialised()
  const networks = dataDir.config().networks
  if (networks.length !== 1) throw new UsageError(`${dataDir.dir} has joined ${networks.length} networks; give the chain's manifest files instead`)
  return dataDir.loadChain(networks[0]!)
}

export async function networkRevise (args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...dataDirOption, out: { type: 'string' }, key: { type: 'string' },
      'add-member': { type: 'string', multiple: true }, 'remove-member': { type: 'string', multiple: true }, role: { type: 'string', multiple: true },
      'add-task': { type: 'string', multiple: true }, bootstrap: { type: 'string', multiple: true }, 'clear-bootstrap': { type: 'boolean' }
    }
  })
  if (values.out === undefined) throw new UsageError('network revise needs --out FILE')
  const chain = await currentChain(values, positionals)
  const { current, network } = await verifyManifestChain(chain)
  const changes: string[] = []
  let members = [...current.members]
  for (const spec of values['add-member'] ?? []) {
    const m = parseMemberSpec(spec)
    if (members.some(x => x.peerId === m.peerId)) throw new UsageError(`${m.peerId} is already a member`)
    members.push(m)
    changes.push(`add member ${m.name} (${m.peerId}, ${m.roles.join(', ')})`)
  }
  for (const peerId of values['remove-member'] ?? []) {
    const m = members.find(x => x.peerId === peerId)
    if (m === undefined) throw new UsageError(`--remove-member ${peerId}: not a member`)
    members = members.filter(x => x.peerId !== peerId)
    changes.push(`remove member ${m.name} (${peerId}): its records are refused from now on`)
  }
  for (const spec of values.role ?? []) {
    const at = spec.lastIndexOf(':')
    const peerId = spec.slice(0, at)
    if (at < 0 || !members.some(x => x.peerId === peerId)) throw new UsageError(`--role "${spec}" must be PEER_ID:ROLE,ROLE for a member`)
    const roles = parseRoles(spec.slice(at + 1), `--role ${spec}`)
    members = members.map(x => x.peerId === peerId ? { ...x, roles } : x)
    changes.push(`roles of ${peerId}: ${roles.join(', ')}`)
  }
  const tasks = [...current.tasks]
  for (const spec of values['add-task'] ?? []) {
    const t = parseTaskSpec(spec, current.baseModel.architecture)
    if (tasks.some(x => x.id === t.id)) throw new UsageError(`task "${t.id}" is already in the registry`)
    tasks.push(t)
    changes.push(`add task ${t.id} (${t.labels.length} classes: ${t.labels.join(', ')}, ${t.input?.channels === 3 ? 'RGB' : 'grey'})`)
  }
  let bootstrap = values['clear-bootstrap'] === true ? [] : [...current.bootstrap]
  for (const addr of values.bootstrap ?? []) if (!bootstrap.includes(addr)) bootstrap = [...bootstrap, addr]
  if (bootstrap.join() !== current.bootstrap.join()) changes.push(`bootstrap: ${bootstrap.length === 0 ? '(none)' : bootstrap.join(', ')}`)
  if (changes.length === 0) throw new UsageError('nothing to change: give --add-member, --remove-member, --role, --add-task or --bootstrap')
  const body: ManifestBody = { ...current, revision: current.revision + 1, network, parent: manifestCid(current), members, tasks, bootstrap, createdAt: Date.now() }
  let revision: SignedManifest = { body, signatures: [] }
  if (values.key !== undefined) revision = await signManifest(revision, readKeyFile(values.key))
  writeFileSync(values.out, encodeManifestFile(revision))
  const { valid } = await checkSignatures(body, revision.signatures, current.members)
  const governing = new Set(governingMembers(current).map(m => m.peerId))
  console.log(`revision ${body.revision} of ${current.name} → ${values.out}`)
  for (const c of changes) console.log(`  ${c}`)
  console.log(`signatures: ${valid.filter(p => governing.has(p)).length} of the ${current.quorum} needed from ${[...governing].length} governing member(s) (medforge network sign ${values.out} --key KEY)`)
}

export async function networkPublishRevision (args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { ...dataDirOption, api: { type: 'string' } } })
  if (positionals.length !== 1) throw new UsageError('network publish-revision takes one revision FILE --data-dir DIR')
  const revision = readManifest(positionals[0]!)
  const text = readFileSync(positionals[0]!, 'utf8')
  const result = await callApi(dataDirOf(values), 'POST', '/network/revision', JSON.parse(text), values.api === undefined ? {} : { api: values.api }) as { network: string, revision: number }
  console.log(`revision ${revision.body.revision} applied by the daemon (network ${result.network} now at revision ${result.revision}) and gossiped to the members`)
}
