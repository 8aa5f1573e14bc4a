import { VigilError } from '../errors.js'
import type { Ordering, SchemeName } from './types.js'

export function invalidVersion(scheme: SchemeName, v: string, why?: string): VigilError {
  const shown = v.length > 80 ? `${v.slice(0, 80)}…` : v
  return new VigilError('ERR_VERSION_INVALID', `not a valid ${scheme} version: ${JSON.stringify(shown)}${why ? ` (${why})` : ''}`)
}

export function sign(n: number): Ordering {
  return n < 0 ? -1 : n > 0 ? 1 : 0
}

/**
 * Numeric comparison of two ASCII digit strings of any length, without converting them: real
 * versions carry 14-digit timestamps and the vectors carry 30-digit numbers, beyond 2^53.
 */
export function compareDigits(a: string, b: string): Ordering {
  let i = 0
  let j = 0
  while (i < a.length - 1 && a.charCodeAt(i) === 48) i++
  while (j < b.length - 1 && b.charCodeAt(j) === 48) j++
  const la = a.length - i
  const lb = b.length - j
  if (la !== lb) return la < lb ? -1 : 1
  for (; i < a.length; i++, j++) {
    const d = a.charCodeAt(i) - b.charCodeAt(j)
    if (d !== 0) return d < 0 ? -1 : 1
  }
  return 0
}

export function compareStrings(a: string, b: string): Ordering {
  return a < b ? -1 : a > b ? 1 : 0
}

const NUMERIC_ID = /^\d+$/

/**
 * SemVer 2.0 §11 pre-release precedence over dot-separated identifiers (empty list = a release,
 * which sorts above any pre-release): numeric identifiers compare as numbers and below
 * alphanumeric ones, alphanumeric ones by code point, and a shorter list of equal prefix first.
 * Go module versions and NuGet versions both order their pre-releases this way.
 */
export function comparePrerelease(a: readonly string[], b: readonly string[]): Ordering {
  if (a.length === 0 || b.length === 0) return a.length === b.length ? 0 : a.length === 0 ? 1 : -1
  for (let i = 0; i < a.length && i < b.length; i++) {
    const p = a[i]!
    const q = b[i]!
    if (p === q) continue
    const pn = NUMERIC_ID.test(p)
    const qn = NUMERIC_ID.test(q)
    if (pn && qn) return compareDigits(p, q)
    if (pn !== qn) return pn ? -1 : 1
    return compareStrings(p, q)
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1
}

export const isDigitCode = (c: number): boolean => c >= 48 && c <= 57
export const isAlphaCode = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122)

/**
 * Parsed-version cache for the schemes whose parse is costly (maven, pep440, rubygems, …).
 * Two generations instead of a true LRU: a lookup is one or two Map gets, with no reordering, and
 * the working set of a re-assessment (a few thousand advisory bounds, the installed versions) stays
 * in the young generation. Failures are cached too and the same error is thrown again: matching
 * meets the same unparsable versions (legacy PyPI releases, odd advisory bounds) over and over,
 * and building a new error with its stack each time was a visible share of a feed delta.
 */
export class ParseCache<T> {
  private young = new Map<string, T | Failed>()
  private old = new Map<string, T | Failed>()
  constructor(private readonly limit = 8192) {}

  get(key: string, parse: (s: string) => T): T {
    let v = this.young.get(key)
    if (v === undefined) {
      v = this.old.get(key)
      if (v === undefined) {
        try {
          v = parse(key)
        } catch (err) {
          v = new Failed(err)
        }
      }
      this.remember(key, v)
    }
    if (v instanceof Failed) throw v.error
    return v
  }

  private remember(key: string, v: T | Failed): void {
    this.young.set(key, v)
    if (this.young.size >= this.limit) {
      this.old = this.young
      this.young = new Map()
    }
  }
}

class Failed {
  constructor(readonly error: unknown) {}
}
