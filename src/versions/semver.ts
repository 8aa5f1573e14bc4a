import semverLib from 'semver'
import type { VersionScheme } from './types.js'
import { invalidVersion, ParseCache } from './util.js'

/**
 * npm semver (the `semver` package, which npm itself uses). Parsing is strict first, then loose,
 * so old registry versions such as `1.2.3beta` still order the way npm orders them; a string both
 * refuse is invalid. crates.io and OSV `SEMVER` ranges use this scheme too (strict SemVer 2.0 is a
 * subset of what it accepts).
 */
const versions = new ParseCache<semverLib.SemVer>()
const ranges = new ParseCache<semverLib.Range>(1024)

function parseVersion(v: string): semverLib.SemVer {
  return versions.get(v, (s) => {
    const p = semverLib.parse(s) ?? semverLib.parse(s, { loose: true })
    if (!p) throw invalidVersion('semver', s)
    return p
  })
}

export interface SemverRangeOptions { loose?: boolean; includePrerelease?: boolean }

/**
 * npm range satisfaction with explicit options, as node-semver's `satisfies` (used by the
 * conformance vectors, which carry per-row options).
 */
export function semverSatisfies(version: string, range: string, options: SemverRangeOptions = {}): boolean {
  let r: semverLib.Range
  try {
    r = new semverLib.Range(range, options)
  } catch {
    throw invalidVersion('semver', range, 'not a valid npm range')
  }
  return r.test(version)
}

/**
 * For advisory matching, pre-releases inside a range are affected: `2.0.0-rc.1` is within
 * `>=1.0.0 <2.0.0` for a vulnerability (npm's install-time default would skip it).
 */
const MATCH_OPTIONS = { includePrerelease: true, loose: true } as const

export const semver: VersionScheme = {
  name: 'semver',
  compare(a, b) {
    return parseVersion(a).compare(parseVersion(b))
  },
  isValid: (v) => (semverLib.valid(v) ?? semverLib.valid(v, { loose: true })) !== null,
  satisfies(version, range) {
    const v = parseVersion(version)
    const r = ranges.get(range, (s) => {
      try {
        return new semverLib.Range(s, MATCH_OPTIONS)
      } catch {
        throw invalidVersion('semver', s, 'not a valid npm range')
      }
    })
    return r.test(v)
  },
}

