import type { Ordering, VersionScheme } from './types.js'
import { compareDigits, compareStrings, invalidVersion, ParseCache } from './util.js'

/**
 * RubyGems Gem::Version: `-` means `.pre.`; segments are runs of digits or letters; trailing
 * zeros of the release part and of the pre-release part are dropped (canonical_segments); a
 * letter segment is older than a number; letters compare bytewise (case-sensitive, like Ruby).
 * Hand-written: no npm package implements Gem::Version.
 * Beyond Gem::Version.correct?, letters glued to the first number (`1beta`) are accepted and
 * ordered by the same segment rules, as osv-scalibr does: RubyGems refuses to build such a gem,
 * but advisory data can still carry the string.
 */
type Segment = string // a digit run (compared as a number) or a letter run
const VALID = /^\s*[0-9]+[0-9a-zA-Z]*(?:\.[0-9a-zA-Z]+)*(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?\s*$/
const SEGMENT = /[0-9]+|[a-z]+/gi
const isNumeric = (s: Segment): boolean => s.charCodeAt(0) <= 57

function canonicalSegments(version: string): Segment[] {
  const v = version.trim().replaceAll('-', '.pre.')
  const segs: Segment[] = (v.match(SEGMENT) ?? []).map((s) => (isNumeric(s) ? stripZeros(s) : s))
  const firstString = segs.findIndex((s) => !isNumeric(s))
  const numeric = firstString < 0 ? segs : segs.slice(0, firstString)
  const rest = firstString < 0 ? [] : segs.slice(firstString)
  return [...dropTrailingZeros(numeric), ...dropTrailingZeros(rest)]
}

function stripZeros(s: string): string {
  let i = 0
  while (i < s.length - 1 && s.charCodeAt(i) === 48) i++
  return s.slice(i)
}

function dropTrailingZeros(segs: Segment[]): Segment[] {
  let n = segs.length
  while (n > 0 && segs[n - 1] === '0') n--
  return segs.slice(0, n)
}

const cache = new ParseCache<Segment[]>()

function parse(v: string): Segment[] {
  return cache.get(v, (s) => {
    if (!VALID.test(s)) throw invalidVersion('rubygems', s)
    return canonicalSegments(s)
  })
}

export const rubygems: VersionScheme = {
  name: 'rubygems',
  compare(a, b) {
    const x = parse(a)
    const y = parse(b)
    const n = Math.max(x.length, y.length)
    for (let i = 0; i < n; i++) {
      const l = x[i] ?? '0'
      const r = y[i] ?? '0'
      if (l === r) continue
      const ln = isNumeric(l)
      const rn = isNumeric(r)
      if (!ln && rn) return -1
      if (ln && !rn) return 1
      return ln ? compareDigits(l, r) : compareStrings(l, r)
    }
    return 0 as Ordering
  },
  isValid: (v) => VALID.test(v),
}
