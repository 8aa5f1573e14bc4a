import type { Ordering, VersionScheme } from './types.js'
import { compareDigits, comparePrerelease, invalidVersion, ParseCache } from './util.js'

/**
 * Go module versions, ordered as golang.org/x/mod/semver.Compare: `vMAJOR[.MINOR[.PATCH]]`
 * (the shorthands `v1`, `v1.2` mean `v1.0.0`, `v1.2.0`; a pre-release or build needs all three),
 * SemVer pre-release order, build metadata ignored — so `v2.0.0+incompatible` equals `v2.0.0`,
 * and pseudo-versions (`v0.0.0-20191109021931-daa7c04131f5`) order by their pre-release text,
 * i.e. by timestamp. Unlike x/mod, the leading `v` is optional, because OSV's Go ecosystem writes
 * versions without it. Hand-written: the rules are short and no npm package implements x/mod's.
 */
interface GoVersion { major: string; minor: string; patch: string; pre: string }

const RE = /^v?(0|[1-9]\d*)(?:\.(0|[1-9]\d*)(?:\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)?)?$/

function tryParse(v: string): GoVersion | undefined {
  const m = RE.exec(v)
  if (!m) return undefined
  return { major: m[1]!, minor: m[2] ?? '0', patch: m[3] ?? '0', pre: m[4] ?? '' }
}

const cache = new ParseCache<GoVersion>()

function parse(v: string): GoVersion {
  return cache.get(v, (s) => {
    const p = tryParse(s)
    if (!p) throw invalidVersion('go', s)
    return p
  })
}

/** x/mod semver.Canonical: `v1.2` → `v1.2.0`, build dropped except `+incompatible`; '' if invalid. */
export function goCanonical(v: string): string {
  const p = v.startsWith('v') ? tryParse(v) : undefined
  if (!p) return ''
  const plus = v.indexOf('+')
  const build = plus >= 0 && v.slice(plus) === '+incompatible' ? '+incompatible' : ''
  return `v${p.major}.${p.minor}.${p.patch}${p.pre ? `-${p.pre}` : ''}${build}`
}


function comparePre(x: string, y: string): Ordering {
  if (x === y) return 0
  return comparePrerelease(x === '' ? [] : x.split('.'), y === '' ? [] : y.split('.'))
}

export const go: VersionScheme = {
  name: 'go',
  compare(a, b) {
    const x = parse(a)
    const y = parse(b)
    return compareDigits(x.major, y.major) || compareDigits(x.minor, y.minor) || compareDigits(x.patch, y.patch) || comparePre(x.pre, y.pre)
  },
  isValid: (v) => tryParse(v) !== undefined,
}
