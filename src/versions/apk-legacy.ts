import type { Ordering } from './types.js'

/**
 * apk-tools 2.x ordering (src/version.c before the 3.0 rewrite), used only when a string is not a
 * valid apk-tools 3 version. apk 2 orders such strings token by token where apk 3 stops at the
 * first invalid token, and OSV's Alpine data (made with apk 2 by osv-scalibr's generator) holds
 * real ones: `6.6.2p1-r0` (a letter followed by digits), `0.8.21.r2`, `1-r`.
 */
const enum T { Invalid = -1, DigitOrZero, Digit, Letter, Suffix, SuffixNo, RevisionNo, End }

const PRE = ['alpha', 'beta', 'pre', 'rc']
const POST = ['cvs', 'svn', 'git', 'hg', 'p']
const isDigit = (c: number): boolean => c >= 48 && c <= 57
const isLower = (c: number): boolean => c >= 97 && c <= 122

class Blob {
  pos = 0
  constructor(readonly s: string) {}
  get len(): number {
    return this.s.length - this.pos
  }
  at(i = 0): number {
    return this.s.charCodeAt(this.pos + i)
  }
}

function nextToken(type: T, b: Blob): T {
  let n: T = T.Invalid
  if (b.len === 0 || b.at() === 0) n = T.End
  else if ((type === T.Digit || type === T.DigitOrZero) && isLower(b.at())) n = T.Letter
  else if (type === T.Letter && isDigit(b.at())) n = T.Digit
  else if (type === T.Suffix && isDigit(b.at())) n = T.SuffixNo
  else {
    const c = b.at()
    if (c === 46) n = T.DigitOrZero
    else if (c === 95) n = T.Suffix
    else if (c === 45) {
      if (b.len > 1 && b.at(1) === 114) {
        n = T.RevisionNo
        b.pos++
      }
    }
    b.pos++
  }
  if (n < type) {
    if (!((n === T.DigitOrZero && type === T.Digit) || (n === T.Suffix && type === T.SuffixNo) || (n === T.Digit && type === T.Letter))) n = T.Invalid
  }
  return n
}

/** One token's value; `state.type` moves on to the next token's type. */
function getToken(state: { type: T }, b: Blob): number {
  let v = 0
  let i = 0
  let nt: T = T.Invalid
  if (b.len <= 0) {
    state.type = T.End
    return 0
  }
  switch (state.type) {
    case T.DigitOrZero:
    case T.Digit:
    case T.SuffixNo:
    case T.RevisionNo:
      // leading zeros after a dot: more zeros sort lower (`1.01 < 1.1`, `1.001 < 1.01`)
      if (state.type === T.DigitOrZero && b.at() === 48) {
        while (i < b.len && b.at(i) === 48) i++
        nt = T.Digit
        v = -i
        break
      }
      while (i < b.len && isDigit(b.at(i))) {
        v = v * 10 + (b.at(i) - 48)
        i++
      }
      break
    case T.Letter:
      v = b.at(i)
      i++
      break
    case T.Suffix: {
      const rest = b.s.slice(b.pos)
      const pre = PRE.findIndex((p) => rest.startsWith(p))
      if (pre >= 0) {
        i = PRE[pre]!.length
        v = pre - PRE.length
        break
      }
      const post = POST.findIndex((p) => rest.startsWith(p))
      if (post >= 0) {
        i = POST[post]!.length
        v = post
        break
      }
      state.type = T.Invalid
      return -1
    }
    default:
      state.type = T.Invalid
      return -1
  }
  b.pos += i
  if (b.len === 0) state.type = T.End
  else if (nt !== T.Invalid) state.type = nt
  else state.type = nextToken(state.type, b)
  return v
}

export function apkLegacyCompare(x: string, y: string): Ordering {
  const a = new Blob(x)
  const b = new Blob(y)
  const at = { type: T.Digit }
  const bt = { type: T.Digit }
  let av = 0
  let bv = 0
  while (at.type === bt.type && at.type !== T.End && at.type !== T.Invalid && av === bv) {
    av = getToken(at, a)
    bv = getToken(bt, b)
  }
  if (av < bv) return -1
  if (av > bv) return 1
  if (at.type === bt.type) return 0
  // equal so far: the longer is newer unless a pre-release suffix follows
  if (at.type === T.Suffix && getToken({ type: at.type }, a) < 0) return -1
  if (bt.type === T.Suffix && getToken({ type: bt.type }, b) < 0) return 1
  if (at.type > bt.type) return -1
  if (bt.type > at.type) return 1
  return 0
}
