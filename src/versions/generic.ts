import type { Ordering, VersionScheme } from './types.js'
import { compareDigits, compareStrings, invalidVersion, isAlphaCode, isDigitCode, ParseCache } from './util.js'

/**
 * The fallback for ecosystems without a scheme of their own (Pub, CRAN, Hackage, …): a leading
 * `v` is dropped, the rest splits into runs of digits and runs of letters (everything else only
 * separates), numbers compare numerically, letters case-insensitively, and a number is newer than
 * letters in the same place. When one side runs out, a following number makes the longer one
 * newer (`1.0.1 > 1.0`) and following letters make it older (`1.0rc1 < 1.0`, a pre-release).
 * Trailing zeros count, as in CRAN and Hackage (`1.0 < 1.0.0`). Any string with at least one
 * digit or letter is valid.
 */
const cache = new ParseCache<string[]>()
const HAS_ALNUM = /[0-9A-Za-z]/
const LEADING_V = /^[vV](?=\d)/

function tokens(v: string): string[] {
  const s = v.trim().replace(LEADING_V, '')
  const out: string[] = []
  let i = 0
  while (i < s.length) {
    const c = s.charCodeAt(i)
    const start = i
    if (isDigitCode(c)) {
      while (i < s.length && isDigitCode(s.charCodeAt(i))) i++
      out.push(s.slice(start, i))
    } else if (isAlphaCode(c)) {
      while (i < s.length && isAlphaCode(s.charCodeAt(i))) i++
      out.push(s.slice(start, i).toLowerCase())
    } else i++
  }
  return out
}

function parse(v: string): string[] {
  return cache.get(v, (s) => {
    if (!HAS_ALNUM.test(s)) throw invalidVersion('generic', s)
    return tokens(s)
  })
}

const isNum = (t: string): boolean => isDigitCode(t.charCodeAt(0))

export const generic: VersionScheme = {
  name: 'generic',
  compare(a, b): Ordering {
    const x = parse(a)
    const y = parse(b)
    const n = Math.min(x.length, y.length)
    for (let i = 0; i < n; i++) {
      const p = x[i]!
      const q = y[i]!
      const pn = isNum(p)
      const qn = isNum(q)
      if (pn !== qn) return pn ? 1 : -1
      const r = pn ? compareDigits(p, q) : compareStrings(p, q)
      if (r !== 0) return r
    }
    if (x.length === y.length) return 0
    if (x.length > n) return isNum(x[n]!) ? 1 : -1
    return isNum(y[n]!) ? -1 : 1
  },
  isValid: (v) => HAS_ALNUM.test(v),
}
