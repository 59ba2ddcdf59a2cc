// @medforge/node: the daemon and the CLI. Today it holds the CLI; the daemon arrives with issue 4.
export { UsageError } from './cli/usage-error.ts'
