import { parse, TomlError } from 'smol-toml'
import { VigilError } from '../../errors.js'
import { isRecord, utf8 } from './common.js'

/**
 * TOML through smol-toml (small, maintained, spec-complete): poetry.lock, uv.lock and pylock.toml
 * use inline tables, arrays of tables and multi-line strings, which a line reader like the
 * Cargo.lock one does not cover. Any syntax error is the catalogue's corrupt-database error.
 */
export function parseToml(bytes: Uint8Array, path: string): Record<string, unknown> {
  try {
    return parse(utf8(bytes).replace(/^\uFEFF/, ''))
  } catch (err) {
    const where = err instanceof TomlError ? `:${err.line}` : ''
    throw new VigilError('ERR_PKGDB_CORRUPT', `${path}${where}: not valid TOML`, { cause: err })
  }
}

/** The tables of an array-of-tables key (`[[package]]`), skipping anything that is not a table. */
export function tables(doc: Record<string, unknown>, key: string): Record<string, unknown>[] {
  const v = doc[key]
  return Array.isArray(v) ? v.filter(isRecord) : []
}
