import { pino, type Logger } from 'pino'

/**
 * JSON logs (pino) with secrets cut out wherever they appear in a logged object: registry
 * credentials travel in job messages and must never reach a log line, even by accident.
 */
export const REDACT_PATHS = [
  'authorization', '*.authorization', '*.*.authorization', 'headers.authorization',
  'password', '*.password', '*.*.password',
  'token', '*.token', '*.*.token',
  'credentials', '*.credentials', '*.*.credentials',
  'secret', '*.secret',
]

export function createLogger(level: string, destination: NodeJS.WritableStream = process.stderr): Logger {
  return pino({ level, base: { service: 'vigil' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, destination as pino.DestinationStream)
}

export type { Logger }
