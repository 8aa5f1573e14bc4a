import type { Ordering, VersionScheme } from './types.js'
import { compareDigits, invalidVersion, ParseCache } from './util.js'

/**
 * Packagist versions, ordered as PHP's version_compare (ext/standard/versioning.c) after
 * dropping a leading `v`/`V` (composer's normaliser does the same; `v1.2` is the tag of `1.2`).
 * Canonicalisation: `-`, `_`, `+` and any other non-alphanumeric become `.`, and a `.` is put
 * between a digit and a non-digit. Parts compare as numbers, or by special-form rank:
 * unknown < dev < alpha = a < beta = b < RC = rc < number < pl = p (prefix match, as PHP does).
 * Numbers compare in full precision (PHP saturates at LONG_MAX; the vectors need 30 digits).
 * Hand-written: there is no PHP in Node, and composer/semver is PHP.
 */
const cache = new ParseCache<string[]>()
const LEADING_V = /^[vV](?=\d)/
const isDigit = (c: number): boolean => c >= 48 && c <= 57
const isAlnum = (c: number): boolean => isDigit(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)

function canonicalize(v: string): string {
  let out = v[0]!
  let lp = v.charCodeAt(0)
  for (let i = 1; i < v.length; i++) {
    const c = v.charCodeAt(i)
    const last = out.charCodeAt(out.length - 1)
    const lpDig = isDigit(lp)
    const cDig = isDigit(c)
    const lpNdig = !lpDig && lp !== 46
    const cNdig = !cDig && c !== 46
    if (c === 45 || c === 95 || c === 43) {
      if (last !== 46) out += '.'
    } else if ((lpNdig && cDig) || (lpDig && cNdig)) {
      if (last !== 46) out += '.'
      out += v[i]
    } else if (!isAlnum(c)) {
      if (last !== 46) out += '.'
    } else {
      out += v[i]
    }
    lp = c
  }
  return out
}

const FORMS: ReadonlyArray<readonly [string, number]> = [
  ['dev', 0], ['alpha', 1], ['a', 1], ['beta', 2], ['b', 2], ['RC', 3], ['rc', 3], ['#', 4], ['pl', 5], ['p', 5],
]

function formRank(s: string): number {
  for (const [name, rank] of FORMS) if (s.startsWith(name)) return rank
  return -1
}

const NUMBER = '#N#'

function compareForms(a: string, b: string): Ordering {
  const x = formRank(a)
  const y = formRank(b)
  return x < y ? -1 : x > y ? 1 : 0
}

function comparePart(p: string, q: string): Ordering {
  const pd = isDigit(p.charCodeAt(0))
  const qd = isDigit(q.charCodeAt(0))
  if (pd && qd) return compareDigits(leadingDigits(p), leadingDigits(q))
  if (!pd && !qd) return compareForms(p, q)
  return pd ? compareForms(NUMBER, q) : compareForms(p, NUMBER)
}

function leadingDigits(s: string): string {
  let i = 0
  while (i < s.length && isDigit(s.charCodeAt(i))) i++
  return s.slice(0, i)
}

function compareParts(a: string[], ai: number, b: string[], bi: number): Ordering {
  while (ai < a.length && bi < b.length) {
    const r = comparePart(a[ai]!, b[bi]!)
    if (r !== 0) return r
    ai++
    bi++
  }
  if (ai < a.length) return isDigit(a[ai]!.charCodeAt(0)) ? 1 : compareParts(a, ai, [NUMBER], 0)
  if (bi < b.length) return isDigit(b[bi]!.charCodeAt(0)) ? -1 : compareParts([NUMBER], 0, b, bi)
  return 0
}

function parse(v: string): string[] {
  return cache.get(v, (s) => {
    const t = s.trim().replace(LEADING_V, '')
    if (t.length === 0) throw invalidVersion('composer', s, 'empty')
    return canonicalize(t).split('.')
  })
}

export const composer: VersionScheme = {
  name: 'composer',
  compare(a, b) {
    return compareParts(parse(a), 0, parse(b), 0)
  },
  isValid: (v) => v.trim().length > 0,
}
