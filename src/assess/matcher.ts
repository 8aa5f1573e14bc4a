import type { Store } from '../store/env.js'
import type { OsInfo, Package } from '../types.js'
import type { Finding } from '../match/types.js'
import { affects, matchPackage } from '../match/matcher.js'
import { affectedKeys, packageEcosystem, storeKey } from '../match/keys.js'
import { readCompiled } from '../store/advisories.js'

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
   * Optional pre-filter: false only when no advisory with one of these display ids, as stored now,
   * affects the package. Absent = always re-match.
   */
  affectedByAny?(store: Store, pkg: Package, os: OsInfo | undefined, ids: ReadonlySet<string>): boolean
}

export const defaultMatcher: Matcher = {
  matchPackage,
  affectedKeys,
  affectedByAny(store, pkg, os, ids) {
    for (const key of affectedKeys(pkg, os)) for (const adv of readCompiled(store, key)) if (ids.has(adv.id) && affects(adv, pkg.version)) return true
    return false
  },
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
