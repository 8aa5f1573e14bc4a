import { VigilError } from '../errors.js'
import type { SchemeName, VersionScheme } from './types.js'
import { dpkg } from './dpkg.js'
import { apk } from './apk.js'
import { rpm } from './rpm.js'
import { semver } from './semver.js'
import { pep440 } from './pep440.js'
import { go } from './go.js'
import { maven } from './maven.js'
import { rubygems } from './rubygems.js'
import { nuget } from './nuget.js'
import { composer } from './composer.js'
import { generic } from './generic.js'

/** The scheme registry: an explicit array, one line per scheme file. */
export const SCHEMES: readonly VersionScheme[] = [
  dpkg,
  apk,
  rpm,
  semver,
  pep440,
  go,
  maven,
  rubygems,
  nuget,
  composer,
  generic,
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
