import type { Ordering, VersionScheme } from './types.js'
import { compareDigits, invalidVersion, ParseCache } from './util.js'

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

const DIGITS = /^\d+$/
const isNum = (s: string): boolean => DIGITS.test(s)

function comparePre(a: string[], b: string[]): Ordering {
  if (a.length === 0 || b.length === 0) return a.length === b.length ? 0 : a.length === 0 ? 1 : -1
  for (let i = 0; i < a.length && i < b.length; i++) {
    const p = a[i]!
    const q = b[i]!
    if (p === q) continue
    const pn = isNum(p)
    const qn = isNum(q)
    if (pn && qn) return compareDigits(p, q)
    if (pn !== qn) return pn ? -1 : 1
    return p < q ? -1 : 1
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1
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
    return comparePre(x.pre, y.pre)
  },
  isValid: (v) => RE.test(v),
}
