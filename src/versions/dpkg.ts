import type { Ordering, VersionScheme } from './types.js'
import { invalidVersion, isDigitCode, isAlphaCode, ParseCache, sign } from './util.js'

/**
 * Debian `[epoch:]upstream[-revision]`, ordered as dpkg's verrevcmp (lib/dpkg/version.c).
 * Hand-written: no npm package follows dpkg exactly, and the algorithm is short.
 * Validity follows dpkg's parseversion errors (not its warnings: `dpkg --compare-versions`
 * accepts a version that only warns, such as one not starting with a digit).
 */
interface Split { epoch: number; upstream: string; revision: string }

const WHITESPACE = /\s/
const DIGITS = /^\d+$/

function split(v: string): Split | string {
  const s = v.trim()
  if (s.length === 0) return 'empty'
  if (WHITESPACE.test(s)) return 'embedded whitespace'
  const colon = s.indexOf(':')
  let epoch = 0
  let rest = s
  if (colon >= 0) {
    const e = s.slice(0, colon)
    if (e.length === 0) return 'empty epoch'
    if (!DIGITS.test(e)) return 'epoch is not a number'
    epoch = Number(e)
    if (epoch > 0x7fffffff) return 'epoch too big'
    rest = s.slice(colon + 1)
    if (rest.length === 0) return 'nothing after the colon'
  }
  const hyphen = rest.lastIndexOf('-')
  const upstream = hyphen >= 0 ? rest.slice(0, hyphen) : rest
  const revision = hyphen >= 0 ? rest.slice(hyphen + 1) : ''
  if (upstream.length === 0) return 'empty upstream version'
  if (hyphen >= 0 && revision.length === 0) return 'empty revision'
  return { epoch, upstream, revision }
}

/** dpkg's order(): `~` before everything, even the end; letters before other symbols. 0 = end. */
function order(c: number): number {
  if (c === 0 || isDigitCode(c)) return 0
  if (isAlphaCode(c)) return c
  if (c === 126) return -1
  return c + 256
}

// Reads never go past the end (0 stands for it): an out-of-range charCodeAt deoptimises V8.
export function verrevcmp(a: string, b: string): Ordering {
  const la = a.length
  const lb = b.length
  const at = (i: number): number => (i < la ? a.charCodeAt(i) : 0)
  const bt = (j: number): number => (j < lb ? b.charCodeAt(j) : 0)
  let i = 0
  let j = 0
  while (i < la || j < lb) {
    let firstDiff = 0
    while ((i < la && !isDigitCode(at(i))) || (j < lb && !isDigitCode(bt(j)))) {
      const ac = order(at(i))
      const bc = order(bt(j))
      if (ac !== bc) return sign(ac - bc)
      i++
      j++
    }
    while (at(i) === 48) i++
    while (bt(j) === 48) j++
    while (isDigitCode(at(i)) && isDigitCode(bt(j))) {
      if (firstDiff === 0) firstDiff = at(i) - bt(j)
      i++
      j++
    }
    if (isDigitCode(at(i))) return 1
    if (isDigitCode(bt(j))) return -1
    if (firstDiff !== 0) return sign(firstDiff)
  }
  return 0
}

// the split costs more than the comparison itself (trim, whitespace and epoch checks)
const cache = new ParseCache<Split>()

function parse(v: string): Split {
  return cache.get(v, (s) => {
    const p = split(s)
    if (typeof p === 'string') throw invalidVersion('dpkg', s, p)
    return p
  })
}

export const dpkg: VersionScheme = {
  name: 'dpkg',
  compare(a, b) {
    const x = parse(a)
    const y = parse(b)
    if (x === y) return 0
    if (x.epoch !== y.epoch) return x.epoch < y.epoch ? -1 : 1
    return verrevcmp(x.upstream, y.upstream) || verrevcmp(x.revision, y.revision)
  },
  isValid: (v) => typeof split(v) !== 'string',
}
