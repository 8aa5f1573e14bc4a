import { getScheme } from '../versions/index.js'
import { schemeForEcosystem } from '../versions/ecosystems.js'
import type { VersionScheme } from '../versions/types.js'
import type { RangeType } from './model.js'

export type Compare = (a: string, b: string) => number

/**
 * The comparator for one (ecosystem, range type). ECOSYSTEM ranges use the ecosystem's own
 * scheme; SEMVER ranges are SemVer 2.0 without a `v` prefix (OSV spec), and Go's vulndb writes
 * its versions that way while go.mod and binaries write `v1.2.3` / `go1.21rc2`.
 */
export function comparatorFor(ecosystem: string, type: RangeType): Compare | undefined {
  // Two-level lookup: this runs for every range of every candidate advisory, so no key strings.
  let byType = cache.get(ecosystem)
  if (!byType) cache.set(ecosystem, (byType = new Map()))
  let hit = byType.get(type)
  if (hit === undefined) byType.set(type, (hit = makeComparator(ecosystem, type) ?? null))
  return hit ?? undefined
}

const cache = new Map<string, Map<RangeType, Compare | null>>()

function makeComparator(ecosystem: string, type: RangeType): Compare | undefined {
  let scheme: VersionScheme | undefined
  try {
    // Go is SemVer with x/mod's rules (shorthands, +incompatible); its scheme accepts either spelling.
    scheme = getScheme(ecosystem === 'Go' ? 'go' : type === 'SEMVER' ? 'semver' : schemeForEcosystem(ecosystem))
  } catch {
    return undefined
  }
  if (!scheme) return undefined
  const s = scheme
  if (type === 'SEMVER' || ecosystem === 'Go') return (a, b) => s.compare(toSemver(a), toSemver(b))
  return (a, b) => s.compare(a, b)
}

/** `v1.2.3` → `1.2.3`; Go toolchain `go1.21` → `1.21.0`, `go1.21rc2` → `1.21.0-rc.2`. */
export function toSemver(v: string): string {
  let s = v.startsWith('go') ? v.slice(2) : v
  if (s.startsWith('v')) s = s.slice(1)
  const m = /^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:(alpha|beta|rc)(\d+))?$/.exec(s)
  if (!m) return s
  const core = `${m[1]}.${m[2] ?? '0'}.${m[3] ?? '0'}`
  return m[4] ? `${core}-${m[4]}.${m[5]}` : core
}
