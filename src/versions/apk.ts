import type { Ordering, VersionScheme } from './types.js'
import { apkLegacyCompare } from './apk-legacy.js'
import { compareDigits, compareStrings, invalidVersion, isDigitCode } from './util.js'

/**
 * Alpine `digit{.digit}...{letter}{_suffix{#}}...{~hash}{-r#}`, ordered as apk-tools 3
 * (src/version.c: token_first / token_next / token_cmp). Hand-written: no npm package follows apk.
 * apk compares strings that are not valid versions too; for those this scheme follows apk-tools 2
 * (apk-legacy.ts), which OSV's Alpine data was generated with and which orders them further than
 * apk 3 does. Only the empty string is refused by `compare`.
 */
const enum T { InitialDigit, Digit, Letter, Suffix, SuffixNo, CommitHash, RevisionNo, End, Invalid }

// suffix order: pre-release suffixes below NONE (5), post-release ones above
const SUFFIX: Record<string, number> = { alpha: 1, beta: 2, pre: 3, rc: 4, cvs: 6, svn: 7, git: 8, hg: 9, p: 10 }
const SUFFIX_NONE = 5

class Tokenizer {
  token: T = T.InitialDigit
  value = ''
  suffix = 0
  private pos = 0
  constructor(private readonly s: string) {
    this.digits()
  }

  private digits(): void {
    const start = this.pos
    while (this.pos < this.s.length && isDigitCode(this.s.charCodeAt(this.pos))) this.pos++
    this.value = this.s.slice(start, this.pos)
    if (this.value.length === 0) this.token = T.Invalid
  }

  next(): void {
    const s = this.s
    if (this.pos >= s.length) {
      this.token = T.End
      return
    }
    const c = s.charCodeAt(this.pos)
    if (c >= 97 && c <= 122) {
      if (this.token > T.Digit) return this.invalid()
      this.value = s[this.pos]!
      this.token = T.Letter
      this.pos++
    } else if (c === 46 || isDigitCode(c)) {
      if (c === 46) {
        if (this.token > T.Digit) return this.invalid()
        this.pos++
      }
      if (this.token === T.InitialDigit || this.token === T.Digit) this.token = T.Digit
      else if (this.token === T.Suffix) this.token = T.SuffixNo
      else return this.invalid()
      this.digits()
    } else if (c === 95) {
      if (this.token > T.SuffixNo) return this.invalid()
      const start = ++this.pos
      while (this.pos < s.length && s.charCodeAt(this.pos) >= 97 && s.charCodeAt(this.pos) <= 122) this.pos++
      this.value = s.slice(start, this.pos)
      this.suffix = SUFFIX[this.value] ?? 0
      if (this.suffix === 0) return this.invalid()
      this.token = T.Suffix
    } else if (c === 126) {
      if (this.token >= T.CommitHash) return this.invalid()
      const start = ++this.pos
      while (this.pos < s.length && isHex(s.charCodeAt(this.pos))) this.pos++
      this.value = s.slice(start, this.pos)
      if (this.value.length === 0) return this.invalid()
      this.token = T.CommitHash
    } else if (c === 45) {
      if (this.token >= T.RevisionNo || this.pos + 1 >= s.length || s.charCodeAt(this.pos + 1) !== 114) return this.invalid()
      this.pos += 2
      this.token = T.RevisionNo
      this.digits()
    } else {
      this.invalid()
    }
  }

  private invalid(): void {
    this.token = T.Invalid
  }
}

const isHex = (c: number): boolean => isDigitCode(c) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70)

function tokenCmp(a: Tokenizer, b: Tokenizer): Ordering {
  switch (a.token) {
    case T.Digit:
      // a leading zero makes apk compare the digits as a string (as Gentoo does)
      if (a.value.charCodeAt(0) === 48 || b.value.charCodeAt(0) === 48) return blobSort(a.value, b.value)
      return compareDigits(a.value, b.value)
    case T.InitialDigit:
    case T.SuffixNo:
    case T.RevisionNo:
      return compareDigits(a.value, b.value)
    case T.Letter:
      return compareStrings(a.value, b.value)
    case T.Suffix:
      return a.suffix < b.suffix ? -1 : a.suffix > b.suffix ? 1 : 0
    default:
      return blobSort(a.value, b.value)
  }
}

/** apk_blob_sort: bytewise on the common prefix, then the shorter first. */
function blobSort(a: string, b: string): Ordering {
  return compareStrings(a, b)
}

export function apkCompare(a: string, b: string, fuzzy = false): Ordering {
  const ta = new Tokenizer(a)
  const tb = new Tokenizer(b)
  while (ta.token === tb.token && ta.token < T.End) {
    const r = tokenCmp(ta, tb)
    if (r !== 0) return r
    ta.next()
    tb.next()
  }
  if (ta.token === tb.token) return 0
  if (tb.token === T.End && fuzzy) return 0
  // equal so far: the longer one is newer, unless what follows is a pre-release suffix
  if (ta.token === T.Suffix && ta.suffix < SUFFIX_NONE) return -1
  if (tb.token === T.Suffix && tb.suffix < SUFFIX_NONE) return 1
  if (ta.token > tb.token) return -1
  if (tb.token > ta.token) return 1
  return 0
}

export function apkValid(v: string): boolean {
  const t = new Tokenizer(v)
  while (t.token < T.End) t.next()
  return t.token === T.End
}

/** apk's fuzzy match `a ~ b`: b is a prefix of a, token-wise (`3.6.9 ~ 3.6`). */
export function apkFuzzyMatch(a: string, b: string): boolean {
  return apkCompare(a, b, true) === 0
}

export const apk: VersionScheme = {
  name: 'apk',
  compare(a, b) {
    if (a.length === 0) throw invalidVersion('apk', a, 'empty')
    if (b.length === 0) throw invalidVersion('apk', b, 'empty')
    return apkValid(a) && apkValid(b) ? apkCompare(a, b) : apkLegacyCompare(a, b)
  },
  isValid: apkValid,
}
