import { VigilError } from '../errors.js'
import type { SchemeName, VersionScheme } from './types.js'

/** The scheme registry: an explicit array, one line per scheme file. */
export const SCHEMES: readonly VersionScheme[] = [
]

const byName = new Map<string, VersionScheme>(SCHEMES.map((s) => [s.name, s]))

export function getScheme(name: string): VersionScheme {
  const scheme = byName.get(name)
  if (!scheme) throw new VigilError('ERR_SCHEME_UNKNOWN', `unknown version scheme "${name}" (known: ${[...byName.keys()].join(', ')})`)
  return scheme
}

export function schemeNames(): SchemeName[] {
  return SCHEMES.map((s) => s.name)
}
