import type { Store } from '../store/env.js'
import type { OsInfo, Package } from '../types.js'
import type { Finding } from '../match/types.js'
import type { ReadCache } from '../store/advisories.js'
import { matchPackage } from '../match/matcher.js'
import { matchChanged, type ChangedMatch } from '../match/changes.js'
import { affectedKeys, packageEcosystem, storeKey } from '../match/keys.js'

/**
 * The narrow slice of matching that the index needs. The default is match/index.ts's; tests and
 * benches may pass their own (e.g. to count calls), and nothing else here depends on how
 * advisories are stored.
 */
export interface Matcher {
  /** Pure function of (store contents, package, os). */
  matchPackage(store: Store, pkg: Package, os?: OsInfo): Finding[]
  /** Store keys under which advisories for this package live. */
  affectedKeys(pkg: Package, os?: OsInfo): string[]
  /**
   * Optional: re-match only what a delta of the records with these ids can have changed, given
   * the package's old findings for those ids (match/changes.ts). Absent = every variant under a
   * touched key is re-matched whole.
   */
  matchChanged?(store: Store, pkg: Package, os: OsInfo | undefined, causes: ReadonlySet<string>, oldPicks: readonly Finding[], cache?: ReadCache): ChangedMatch
}

export const defaultMatcher: Matcher = {
  matchPackage,
  affectedKeys,
  matchChanged,
}

/**
 * Keys a variant is posted under: its own name (for `vigil query package`), its source package /
 * origin, and every key its advisories can live under.
 */
export function postingKeys(matcher: Matcher, pkg: Package, os: OsInfo | undefined): string[] {
  const eco = packageEcosystem(pkg, os)
  const keys = new Set<string>([storeKey(eco, pkg.name)])
  if (pkg.source?.name) keys.add(storeKey(eco, pkg.source.name))
  for (const k of matcher.affectedKeys(pkg, os)) keys.add(k)
  return [...keys]
}
