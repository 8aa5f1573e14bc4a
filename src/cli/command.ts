import { parseArgs, type ParseArgsConfig } from 'node:util'
import { VigilError } from '../errors.js'

/** What every command module exports. */
export interface Command {
  readonly name: string
  /** One line for `vigil --help`. */
  readonly summary: string
  /** Full `vigil <name> --help` text. */
  readonly usage: string
  run(argv: string[], io: CliIo): Promise<number>
}

export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean }
  stderr: NodeJS.WritableStream & { isTTY?: boolean }
  stdin: NodeJS.ReadableStream & { isTTY?: boolean }
  env: NodeJS.ProcessEnv
}

export const EXIT = { ok: 0, policy: 1, usage: 2, runtime: 3 } as const

type Options = NonNullable<ParseArgsConfig['options']>

/**
 * node:util parseArgs rather than a CLI framework: it is in Node itself, takes options before or
 * after positionals (DESIGN.md requires both), and every command keeps its own usage text.
 */
export function parseCommandArgs<O extends Options>(argv: string[], options: O, usage: string) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true })
  } catch (err) {
    throw new VigilError('ERR_USAGE', `${(err as Error).message}\n\n${usage}`)
  }
}

/** The options shared by every command that uses the store or writes a report. */
export const COMMON_OPTIONS = {
  data: { type: 'string' },
  output: { type: 'string', short: 'o' },
  format: { type: 'string', short: 'f' },
  quiet: { type: 'boolean', short: 'q' },
} as const
