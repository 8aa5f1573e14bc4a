import { explain, clean } from '@renovatebot/pep440'
import type { Pep440Version } from '@renovatebot/pep440'
import type { Ordering, VersionScheme } from './types.js'
import { compareStrings, invalidVersion, ParseCache } from './util.js'

/**
 * PEP 440 versions and specifier sets. Parsing and normalisation come from @renovatebot/pep440
 * (it matches all of pypa/packaging's normalisation and invalid-version vectors). Two parts are
 * written here instead:
 *  - the ordering, over a cached parse, because the package re-parses both strings on every
 *    `compare` (it agrees with packaging on all 8,464 ordered pairs; so does this);
 *  - specifier `contains`, because the package's `satisfies` disagrees with packaging on 20 of
 *    188 vectors: `==2.0.*` does not pad (`2`, `2rc1` should match), and the exclusive `>`/`<`
 *    rules for pre-, post- and local versions are wrong (`>1.0a1` must contain `1.0a2+local`).
 * Legacy (pre-PEP 440) versions such as `0.1-bulbasaur` are invalid, as in packaging ≥ 22.
 */
interface Parsed {
  v: Pep440Version
  release: number[] // trailing zeros stripped, for ordering
  local: Array<number | string> | null
}

const cache = new ParseCache<Parsed>()

function parse(s: string): Parsed {
  return cache.get(s, (x) => {
    // packaging strips surrounding whitespace (Unicode too) before parsing
    const v = explain(x.trim())
    if (!v) throw invalidVersion('pep440', x)
    const release = v.release.slice()
    while (release.length > 0 && release[release.length - 1] === 0) release.pop()
    const local = v.local === null ? null : v.local.split(/[._-]/).map((p) => (/^\d+$/.test(p) ? Number(p) : p.toLowerCase()))
    return { v, release, local }
  })
}

const num = (x: unknown): number => Number(x)
const cmpNum = (a: number, b: number): Ordering => (a < b ? -1 : a > b ? 1 : 0)

/** packaging's _cmpkey: a dev-only release sorts before its pre-releases; post and dev as numbers. */
function preKey(p: Parsed): [number, string, number] {
  const { pre, post, dev } = p.v
  if (pre == null && post == null && dev != null) return [-1, '', 0]
  if (pre == null) return [1, '', 0]
  return [0, String(pre[0]), num(pre[1])]
}

function compareLocal(a: Parsed['local'], b: Parsed['local']): Ordering {
  if (a === null || b === null) return a === b ? 0 : a === null ? -1 : 1
  for (let i = 0; i < a.length && i < b.length; i++) {
    const x = a[i]!
    const y = b[i]!
    if (x === y) continue
    // numeric segments sort above alphanumeric ones
    if (typeof x === 'number' && typeof y === 'number') return cmpNum(x, y)
    if (typeof x === 'number') return 1
    if (typeof y === 'number') return -1
    return compareStrings(x, y)
  }
  return cmpNum(a.length, b.length)
}

function compareParsed(a: Parsed, b: Parsed, withLocal = true): Ordering {
  let r = cmpNum(a.v.epoch, b.v.epoch)
  if (r) return r
  for (let i = 0; i < a.release.length || i < b.release.length; i++) {
    r = cmpNum(a.release[i] ?? 0, b.release[i] ?? 0)
    if (r) return r
  }
  const pa = preKey(a)
  const pb = preKey(b)
  r = cmpNum(pa[0], pb[0]) || compareStrings(pa[1], pb[1]) || cmpNum(pa[2], pb[2])
  if (r) return r
  const posta = a.v.post != null ? num(a.v.post) : -1
  const postb = b.v.post != null ? num(b.v.post) : -1
  r = cmpNum(posta, postb)
  if (r) return r
  const deva = a.v.dev != null ? num(a.v.dev) : Infinity
  const devb = b.v.dev != null ? num(b.v.dev) : Infinity
  r = cmpNum(deva, devb)
  if (r) return r
  return withLocal ? compareLocal(a.local, b.local) : 0
}

// ---- specifiers -------------------------------------------------------------------------------

const CLAUSE = /^\s*(~=|===|==|!=|<=|>=|<|>)\s*(\S+)\s*$/

/** packaging's _version_split: epoch first, and `1rc1` split into `1`, `rc1`. */
function versionSplit(normalized: string): string[] {
  const bang = normalized.indexOf('!')
  const out = [bang >= 0 ? normalized.slice(0, bang) : '0']
  for (const item of normalized.slice(bang + 1).split('.')) {
    const m = /^([0-9]+)((?:a|b|c|rc)[0-9]+)$/.exec(item)
    if (m) out.push(m[1]!, m[2]!)
    else out.push(item)
  }
  return out
}

function prefixMatch(candidate: Parsed, prefix: string): boolean {
  const spec = clean(prefix)
  if (spec === null || spec.includes('+')) throw invalidVersion('pep440', `${prefix}.*`, 'bad prefix match')
  const specSplit = versionSplit(spec)
  const cand = versionSplit(clean(candidate.v.public) ?? candidate.v.public)
  const numeric = (xs: string[]): number => {
    let i = 0
    while (i < xs.length && /^\d+$/.test(xs[i]!)) i++
    return i
  }
  const cn = numeric(cand)
  const sn = numeric(specSplit)
  const padded = [...cand.slice(0, cn), ...Array<string>(Math.max(0, sn - cn)).fill('0'), ...cand.slice(cn)]
  const shortened = padded.slice(0, specSplit.length)
  return shortened.length === specSplit.length && shortened.every((x, i) => x === specSplit[i])
}

function equalClause(c: Parsed, spec: string): boolean {
  if (spec.endsWith('.*')) return prefixMatch(c, spec.slice(0, -2))
  const s = parse(spec)
  return compareParsed(c, s, s.local !== null) === 0
}

const releaseText = (p: Parsed): string => `${p.v.epoch ? `${p.v.epoch}!` : ''}${p.v.release.join('.')}`
const preText = (p: Parsed): string => (p.v.pre != null ? `${p.v.pre[0]}${p.v.pre[1]}` : '')

/** packaging's _earliest_prerelease: the lowest version that is still a pre-release of `s`. */
function earliestPrerelease(s: Parsed): Parsed {
  return parse(`${releaseText(s)}${s.v.post != null ? `.post${s.v.post}` : ''}.dev0`)
}

/** packaging's _post_base: the version without its post- and dev-release parts. */
const postBase = (p: Parsed): Parsed => parse(`${releaseText(p)}${preText(p)}`)
const publicOf = (p: Parsed): Parsed => parse(p.v.public)

function clause(c: Parsed, raw: string, op: string, spec: string): boolean {
  switch (op) {
    case '===':
      return (clean(raw) ?? raw).toLowerCase() === spec.toLowerCase() || raw.toLowerCase() === spec.toLowerCase()
    case '==':
      return equalClause(c, spec)
    case '!=':
      return !equalClause(c, spec)
    case '~=': {
      const s = parse(spec)
      if (s.v.release.length < 2 || s.local !== null) throw invalidVersion('pep440', `~=${spec}`, '~= needs at least two release parts')
      const prefix = `${s.v.epoch ? `${s.v.epoch}!` : ''}${s.v.release.slice(0, -1).join('.')}`
      return compareParsed(c, s, false) >= 0 && prefixMatch(c, prefix)
    }
    case '<=':
      return compareParsed(c, parse(spec), false) <= 0
    case '>=':
      return compareParsed(c, parse(spec), false) >= 0
    case '<': {
      const s = parse(spec)
      if (compareParsed(c, s, false) >= 0) return false
      // `<1.0` excludes 1.0's own pre-releases unless the bound is itself a pre-release
      return s.v.is_prerelease || !c.v.is_prerelease || compareParsed(c, earliestPrerelease(s)) < 0
    }
    case '>': {
      const s = parse(spec)
      if (compareParsed(c, s) <= 0) return false
      // `>1.0` excludes 1.0's post-releases (unless the bound is one) and its local versions
      if (!s.v.is_postrelease && c.v.is_postrelease && compareParsed(postBase(c), s) === 0) return false
      if (c.local !== null && compareParsed(publicOf(c), s) === 0) return false
      return true
    }
    default:
      throw invalidVersion('pep440', `${op}${spec}`, 'unknown operator')
  }
}

/**
 * packaging's SpecifierSet.contains with prereleases=True (an advisory range applies to
 * pre-releases too). `specifiers` is a comma-separated set; an empty set contains everything.
 */
export function pep440Contains(specifiers: string, version: string): boolean {
  const c = parse(version.trim())
  for (const part of specifiers.split(',')) {
    if (part.trim() === '') continue
    const m = CLAUSE.exec(part)
    if (!m) throw invalidVersion('pep440', part, 'not a PEP 440 specifier')
    if (!clause(c, version.trim(), m[1]!, m[2]!)) return false
  }
  return true
}

export const pep440: VersionScheme = {
  name: 'pep440',
  compare: (a, b) => compareParsed(parse(a), parse(b)),
  isValid: (v) => explain(v.trim()) !== null,
  satisfies: (version, range) => pep440Contains(range, version),
}
