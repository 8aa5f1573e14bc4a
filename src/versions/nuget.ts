import type { Ordering, VersionScheme } from './types.js'
import { compareDigits, comparePrerelease, invalidVersion, ParseCache } from './util.js'

/**
 * NuGet versions (NuGet.Versioning NuGetVersion / VersionComparer.Default): one to four numeric
 * parts (missing ones are 0, leading zeros allowed), a SemVer 2.0 pre-release compared
 * case-insensitively, build metadata ignored. Hand-written: no npm package implements NuGet's
 * comparer.
 */
interface NugetVersion { parts: string[]; pre: string[] }

const RE = /^\s*v?(\d+(?:\.\d+){0,3})(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?\s*$/
const cache = new ParseCache<NugetVersion>()

function parse(v: string): NugetVersion {
  return cache.get(v, (s) => {
    const m = RE.exec(s)
    if (!m) throw invalidVersion('nuget', s)
    const parts = m[1]!.split('.')
    while (parts.length < 4) parts.push('0')
    return { parts, pre: m[2] ? m[2].toLowerCase().split('.') : [] }
  })
}



export const nuget: VersionScheme = {
  name: 'nuget',
  compare(a, b) {
    const x = parse(a)
    const y = parse(b)
    for (let i = 0; i < 4; i++) {
      const r = compareDigits(x.parts[i]!, y.parts[i]!)
      if (r !== 0) return r
    }
    return comparePrerelease(x.pre, y.pre)
  },
  isValid: (v) => RE.test(v),
}
