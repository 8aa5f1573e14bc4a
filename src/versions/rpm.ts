import type { Ordering, VersionScheme } from './types.js'
import { invalidVersion, isAlphaCode, isDigitCode } from './util.js'

/**
 * Whole `[epoch:]version[-release]` strings ordered as rpm's `rpm.vercmp` (rpmverParse +
 * rpmverCmp in rpmio/rpmver.c, rpmvercmp in rpmio/rpmvercmp.c, rpm 4.18). Hand-written: the
 * npm packages for rpm versions compare V and R only, and differ on `~`, `^` and missing parts.
 * Quirks kept on purpose, because rpm has them:
 *  - a missing epoch is 0; epochs compare with rpmvercmp, not as integers;
 *  - the release starts after the LAST `-`; when only one side has a release, it is the greater;
 *  - only the empty string is invalid (rpm accepts anything else).
 */
const isAlnum = (c: number): boolean => isDigitCode(c) || isAlphaCode(c)

/** rpmvercmp on two segments. */
export function rpmvercmp(a: string, b: string): Ordering {
  if (a === b) return 0
  let one = 0
  let two = 0
  const la = a.length
  const lb = b.length
  while (one < la || two < lb) {
    while (one < la && !isAlnum(a.charCodeAt(one)) && a.charCodeAt(one) !== 126 && a.charCodeAt(one) !== 94) one++
    while (two < lb && !isAlnum(b.charCodeAt(two)) && b.charCodeAt(two) !== 126 && b.charCodeAt(two) !== 94) two++
    const ca = one < la ? a.charCodeAt(one) : 0
    const cb = two < lb ? b.charCodeAt(two) : 0
    // `~` sorts before everything, the end included
    if (ca === 126 || cb === 126) {
      if (ca !== 126) return 1
      if (cb !== 126) return -1
      one++
      two++
      continue
    }
    // `^` sorts after the end but before anything else
    if (ca === 94 || cb === 94) {
      if (ca === 0) return -1
      if (cb === 0) return 1
      if (ca !== 94) return 1
      if (cb !== 94) return -1
      one++
      two++
      continue
    }
    if (ca === 0 || cb === 0) break
    let e1 = one
    let e2 = two
    const isNum = isDigitCode(ca)
    if (isNum) {
      while (e1 < la && isDigitCode(a.charCodeAt(e1))) e1++
      while (e2 < lb && isDigitCode(b.charCodeAt(e2))) e2++
    } else {
      while (e1 < la && isAlphaCode(a.charCodeAt(e1))) e1++
      while (e2 < lb && isAlphaCode(b.charCodeAt(e2))) e2++
    }
    // segment types differ: numeric is newer
    if (e2 === two) return isNum ? 1 : -1
    if (isNum) {
      while (one < e1 - 1 && a.charCodeAt(one) === 48) one++
      while (two < e2 - 1 && b.charCodeAt(two) === 48) two++
      // all zeros: rpm strips them all, leaving two empty (equal) strings
      if (a.charCodeAt(one) === 48) one = e1
      if (b.charCodeAt(two) === 48) two = e2
      const l1 = e1 - one
      const l2 = e2 - two
      if (l1 !== l2) return l1 > l2 ? 1 : -1
    }
    const s1 = a.slice(one, e1)
    const s2 = b.slice(two, e2)
    if (s1 !== s2) return s1 < s2 ? -1 : 1
    one = e1
    two = e2
  }
  if (one >= la && two >= lb) return 0
  return one >= la ? -1 : 1
}

interface Evr { e: string | undefined; v: string; r: string | undefined }

export function parseEvr(evr: string): Evr {
  if (evr.length === 0) throw invalidVersion('rpm', evr, 'empty')
  let s = 0
  while (s < evr.length && isDigitCode(evr.charCodeAt(s))) s++
  const dash = evr.lastIndexOf('-')
  const se = dash >= s ? dash : -1
  let e: string | undefined
  let vStart = 0
  if (evr.charCodeAt(s) === 58) {
    e = s === 0 ? '0' : evr.slice(0, s)
    vStart = s + 1
  }
  const v = se >= 0 ? evr.slice(vStart, se) : evr.slice(vStart)
  const r = se >= 0 ? evr.slice(se + 1) : undefined
  return { e, v, r }
}

function compareValues(x: string | undefined, y: string | undefined): Ordering {
  if (x === undefined) return y === undefined ? 0 : -1
  if (y === undefined) return 1
  return rpmvercmp(x, y)
}

export const rpm: VersionScheme = {
  name: 'rpm',
  compare(a, b) {
    const x = parseEvr(a)
    const y = parseEvr(b)
    return compareValues(x.e ?? '0', y.e ?? '0') || compareValues(x.v, y.v) || compareValues(x.r, y.r)
  },
  isValid: (v) => v.length > 0,
}

// ---- NEVRA ------------------------------------------------------------------------------------

export interface Nevra { name?: string; epoch?: string; version: string; release?: string; arch?: string }

const ARCHES = new Set([
  'noarch', 'src', 'nosrc', 'x86_64', 'i386', 'i486', 'i586', 'i686', 'athlon', 'aarch64', 'armv7hl', 'armv7l',
  'armhfp', 'ppc64le', 'ppc64', 'ppc', 's390x', 's390', 'riscv64', 'loongarch64', 'mips64el',
])

/**
 * `name-[epoch:]version-release[.arch]`, or a bare `[epoch:]version-release[.arch]` (one `-`).
 * The arch is a trailing `.word` only when the word is a known rpm arch, as in claircore's rpmver.
 */
export function parseNevra(s: string): Nevra {
  let rest = s
  let arch: string | undefined
  const dot = rest.lastIndexOf('.')
  if (dot > 0 && ARCHES.has(rest.slice(dot + 1))) {
    arch = rest.slice(dot + 1)
    rest = rest.slice(0, dot)
  }
  const r = rest.lastIndexOf('-')
  if (r <= 0 || r === rest.length - 1) throw invalidVersion('rpm', s, 'not a NEVRA')
  const release = rest.slice(r + 1)
  const head = rest.slice(0, r)
  const v = head.lastIndexOf('-')
  const name = v > 0 ? head.slice(0, v) : undefined
  const evr = v > 0 ? head.slice(v + 1) : head
  const colon = evr.indexOf(':')
  const epoch = colon >= 0 ? evr.slice(0, colon) : undefined
  const version = colon >= 0 ? evr.slice(colon + 1) : evr
  if (version.length === 0 || (epoch !== undefined && !/^\d+$/.test(epoch))) throw invalidVersion('rpm', s, 'not a NEVRA')
  return { name, epoch, version, release, arch }
}

function compareOptional(a: string | undefined, b: string | undefined): Ordering {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? -1 : 1
  return a < b ? -1 : a > b ? 1 : 0
}

/** Name, then EVR as rpm orders it, then arch; an absent name or arch sorts first. */
export function compareNevra(a: string, b: string): Ordering {
  const x = parseNevra(a)
  const y = parseNevra(b)
  return compareOptional(x.name, y.name)
    || rpmvercmp(x.epoch ?? '0', y.epoch ?? '0')
    || rpmvercmp(x.version, y.version)
    || compareValues(x.release, y.release)
    || compareOptional(x.arch, y.arch)
}
