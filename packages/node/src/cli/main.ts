// The `medforge` command line: sub-command dispatch and error reporting.
import { ADAPTER_HELP, adapterInspect, adapterMerge } from './adapter-commands.ts'
import { DEMO_HELP, demo } from './demo-command.ts'
import { KEYS_HELP, NETWORK_HELP, keysCommand, networkCommand } from './network-commands.ts'
import { REVISION_HELP, networkPublishRevision, networkRevise } from './revision-commands.ts'
import { DAEMON_HELP, addressCommand, compositeCommand, daemonCommand, initCommand, networkJoin, publishCommand, statusCommand, stopCommand } from './daemon-commands.ts'
import { TOY_HELP, toyCommand } from './toy-commands.ts'
import { CLINICAL_HELP, dataCommand, evalCommand, trainCommand } from './clinical-commands.ts'
import { TESTNET_HELP, testnetCommand } from './testnet-command.ts'
import { UsageError } from './usage-error.ts'
import { isMedforgeError } from '@medforge/merge-core'

const HELP = `medforge — build a medical foundation model together, without sharing patient data

Usage: medforge <command> [options]

Commands:
  adapter inspect DIR_OR_FILE     describe a PEFT LoRA adapter and print its module CID
  adapter merge --method M ...    merge PEFT adapters deterministically (see: medforge adapter --help)
  keys new --out FILE | show FILE  institution keys (the daemon's libp2p identity)
  network create | sign | verify | revise | publish-revision
                                  network manifests and revisions (see: medforge network --help)
  init --name NAME --data-dir DIR create an institution's data directory (key, config, API token)
  address --data-dir DIR [--wait S]   a running daemon's listen address (for --bootstrap)
  stop --data-dir DIR             stop the running daemon cleanly
  network join MANIFEST --data-dir DIR   join a network (verifies the manifest chain)
  daemon --data-dir DIR [--listen MULTIADDR] [--api HOST:PORT] [--bootstrap MULTIADDR]
         [--mdns] [--no-members-only] [--fetch-timeout MS] [--max-gossip-age MS]
         [--max-blob-bytes N] [--peer-rate MSGS_PER_S] [--sync-interval MS] [--api-host NAME] [--quiet]
                                  run the institution daemon (gossip, fetch, merge, attest, API)
  publish BUNDLE --data-dir DIR [--task T]   sign and publish a module through the running daemon
  status --data-dir DIR [--json]  peers, modules, state root and whether the peers agree
  composite export --data-dir DIR --out DIR   the composite as a PEFT adapter plus task heads
  data shard --task T ...         a site's deterministic shard of a MedMNIST task
  train --task T --site I/N --out DIR   train a LoRA module + head and distil (see: medforge train --help)
  eval --task T DIR               test-split accuracy, AUC, F1, confusion matrix
  toy base-model | module         the deterministic toy model for protocol testnets
  demo                            three simulated sites, every merge method, two arrival orders
  testnet [--institutions N] [--exit]   the local multi-institution testnet with dashboards (npm start)

Options:
  -h, --help                      show help
  --version                       print the version
`

/** Every command's help, printed (exit 0) for `medforge COMMAND --help` or `-h` anywhere after it. */
const COMMAND_HELP: Readonly<Record<string, string>> = {
  adapter: ADAPTER_HELP,
  keys: KEYS_HELP,
  network: NETWORK_HELP + REVISION_HELP,
  init: DAEMON_HELP,
  daemon: DAEMON_HELP,
  address: DAEMON_HELP,
  stop: DAEMON_HELP,
  publish: DAEMON_HELP,
  status: DAEMON_HELP,
  composite: DAEMON_HELP,
  data: CLINICAL_HELP,
  train: CLINICAL_HELP,
  eval: CLINICAL_HELP,
  toy: TOY_HELP,
  demo: DEMO_HELP,
  testnet: TESTNET_HELP
}

async function main (argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') { process.stdout.write(HELP); return }
  if (command === '--version') { console.log('medforge 0.1.0'); return }
  const help = COMMAND_HELP[command]
  if (help !== undefined && (rest.includes('--help') || rest.includes('-h') || (rest.length === 0 && !['demo', 'testnet', 'status', 'daemon', 'address', 'stop'].includes(command)))) { process.stdout.write(help); return }
  switch (command) {
    case 'adapter': {
      const [sub, ...args] = rest
      if (sub === 'inspect') return adapterInspect(args)
      if (sub === 'merge') return await adapterMerge(args)
      throw new UsageError(`unknown adapter command "${sub}" (inspect, merge)`)
    }
    case 'keys': return await keysCommand(rest)
    case 'network':
      if (rest[0] === 'join') return await networkJoin(rest.slice(1))
      if (rest[0] === 'revise') return await networkRevise(rest.slice(1))
      if (rest[0] === 'publish-revision') return await networkPublishRevision(rest.slice(1))
      return await networkCommand(rest)
    case 'init': return await initCommand(rest)
    case 'address': return await addressCommand(rest)
    case 'stop': return await stopCommand(rest)
    case 'daemon': return await daemonCommand(rest)
    case 'publish': return await publishCommand(rest)
    case 'status': return await statusCommand(rest)
    case 'composite': return await compositeCommand(rest)
    case 'data': return await dataCommand(rest)
    case 'train': return await trainCommand(rest)
    case 'eval': return await evalCommand(rest)
    case 'toy': return toyCommand(rest)
    case 'demo': return await demo(rest)
    case 'testnet': return await testnetCommand(rest)
    default: throw new UsageError(`unknown command "${command}"`)
  }
}

// A stray failure must reach the user as a sentence, not a stack trace. The daemon logs it and
// keeps serving (its state is in the ledger, and one failed network operation is not fatal);
// every other command stops with status 1.
const longRunning = process.argv[2] === 'daemon'
const onStray = (what: string) => (err: unknown): void => {
  console.error(`medforge: ${what}: ${(err as Error)?.message ?? String(err)}${process.env.MEDFORGE_DEBUG === '1' ? `\n${(err as Error)?.stack ?? ''}` : ''}`)
  if (!longRunning) process.exit(1)
}
process.on('unhandledRejection', onStray('unexpected error (unhandled rejection)'))
process.on('uncaughtException', onStray('unexpected error'))

/** How a failure reaches the user: a sentence (or, with --json, one JSON object) and an exit status. */
function report (err: unknown, json: boolean): void {
  const usage = err instanceof UsageError || (err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true)
  const code = usage ? 'ERR_USAGE' : isMedforgeError(err) ? err.code : systemCode(err) ?? 'ERR_UNEXPECTED'
  const message = (err as Error)?.message ?? String(err)
  process.exitCode = usage ? 2 : 1
  if (json) {
    console.error(JSON.stringify({ error: message, code, exitCode: process.exitCode }))
    return
  }
  if (usage) console.error(`medforge: ${message}\nRun 'medforge ${process.argv[2] ?? ''} --help' for usage.`)
  else if (isMedforgeError(err) || systemCode(err) !== undefined) console.error(`medforge: ${message}`)
  // Not one of ours: still a message, not a stack trace (MEDFORGE_DEBUG=1 shows the stack).
  else console.error(`medforge: unexpected error: ${message}${process.env.MEDFORGE_DEBUG === '1' ? `\n${(err as Error).stack ?? ''}` : '\n(run with MEDFORGE_DEBUG=1 for the stack trace)'}`)
}

/** A file-system refusal (EEXIST, EACCES, ENOSPC, …): its message already names the path. */
function systemCode (err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException)?.code
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) && typeof (err as NodeJS.ErrnoException).path === 'string' ? code : undefined
}

try {
  await main(process.argv.slice(2))
} catch (err) {
  report(err, process.argv.includes('--json'))
}
