import { PinoPretty } from 'pino-pretty'
import { VigilError } from '../errors.js'

export const LOG_FORMATS = ['json', 'text'] as const
export type LogFormat = (typeof LOG_FORMATS)[number]

/** `--log-format`, else `$VIGIL_LOG_FORMAT`, else text on a terminal and JSON anywhere else. */
export function logFormat(flag: string | undefined, env: NodeJS.ProcessEnv, stderr: { isTTY?: boolean }): LogFormat {
  const chosen = flag ?? (env.VIGIL_LOG_FORMAT || undefined) ?? (stderr.isTTY ? 'text' : 'json')
  if (!(LOG_FORMATS as readonly string[]).includes(chosen)) throw new VigilError('ERR_CONFIG', `--log-format / VIGIL_LOG_FORMAT must be json or text, got "${chosen}"`)
  return chosen as LogFormat
}

/**
 * Where the daemon's pino logger writes: stderr itself for JSON lines (what log collectors read),
 * or pino-pretty in front of it for a person at a terminal — the same records and redactions,
 * one readable line each, coloured only on a TTY. Synchronous, so a line written just before an
 * exit is not lost.
 */
export function logDestination(format: LogFormat, stderr: NodeJS.WritableStream & { isTTY?: boolean }, env: NodeJS.ProcessEnv): NodeJS.WritableStream {
  if (format === 'json') return stderr
  return PinoPretty({ destination: stderr, sync: true, colorize: stderr.isTTY === true && !env.NO_COLOR, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' })
}
