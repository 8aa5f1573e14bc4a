import { parseArgs, type ParseArgsConfig } from 'node:util'
import parseDuration from 'parse-duration'
import { VigilError } from '../errors.js'

/** What every command module exports. */
export interface Command {
  readonly name: string
  /** One line for `vigil --help`. */
  readonly summary: string
  /** Full `vigil <name> --help` text. */
  readonly usage: string
  /** The command's flags; those listed here can also be set in the config file's section for it. */
  readonly options?: Options
  run(argv: string[], io: CliIo): Promise<number>
}

export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean }
  stderr: NodeJS.WritableStream & { isTTY?: boolean }
  stdin: NodeJS.ReadableStream & { isTTY?: boolean }
  env: NodeJS.ProcessEnv
}

export const EXIT = { ok: 0, policy: 1, usage: 2, runtime: 3 } as const

export type Options = NonNullable<ParseArgsConfig['options']>

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

/** Every format name any command's --format takes, and the spellings other scanners use. */
const FORMAT_NAMES = new Set(['table', 'json', 'cyclonedx', 'cyclonedx-json', 'spdx', 'spdx-json', 'sarif', 'harbor', 'text', 'template', 'github'])

/**
 * `-o` names a file. Grype spells the format `-o json`; here that would silently write a table
 * to a file named `json`, so a bare format name is refused with the spelling that works.
 */
export function outputFile(path: string | undefined): string | undefined {
  if (path === undefined) return undefined
  if (FORMAT_NAMES.has(path.toLowerCase())) {
    throw new VigilError('ERR_USAGE', `-o/--output names the output file, and "${path}" is a format name: use --format ${path} (-f ${path}), or -o ./${path} for a file of that name`)
  }
  return path
}

/**
 * `--timeout` as Trivy writes it (`5m`, `90s`, `1h30m`, `5m0s`); a bare number is seconds.
 * parse-duration rather than a regex of our own: it takes every Go-style compound form.
 */
export function parseTimeoutMs(text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  const ms = /^\d+$/.test(text.trim()) ? Number(text) * 1000 : parseDuration(text)
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms <= 0) {
    throw new VigilError('ERR_USAGE', `--timeout must be a positive duration such as 90s, 5m or 1h30m, got "${text}"`)
  }
  return ms
}

/**
 * Runs `work` with a time limit: at the limit the signal aborts (the registry client and the
 * worker pool stop on it) and the call rejects with ERR_TIMEOUT at once, whatever is still
 * unwinding.
 */
export async function withTimeout<T>(ms: number | undefined, what: string, work: (signal: AbortSignal | undefined) => Promise<T>): Promise<T> {
  if (ms === undefined) return work(undefined)
  const controller = new AbortController()
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new VigilError('ERR_TIMEOUT', `${what} did not finish within --timeout ${formatMs(ms)}`)
      controller.abort(err)
      reject(err)
    }, ms)
  })
  try {
    return await Promise.race([work(controller.signal), expired])
  } finally {
    clearTimeout(timer)
  }
}

function formatMs(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000}m` : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`
}
