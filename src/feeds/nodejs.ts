import semver from 'semver'
import type { AdvisoryRecord, AffectedEntry, RangeEvent } from '../match/model.js'
import { cvssFromFeed, parseSeverityWord } from '../match/severity.js'
import { recordError, type FeedItem } from './types.js'

type Json = Record<string, unknown>
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * nodejs/security-wg npm advisories (`module_name`, `vulnerable_versions` and `patched_versions`
 * as node-semver ranges) → OSV-style SEMVER ranges. The affected versions are the vulnerable
 * range minus the patched one (security-wg 357: mqtt `>=2.0.0` patched `>=2.15.0` stops at
 * 2.15.0), one range per resulting span: a lower bound is `introduced` (`>x` becomes the least
 * version above x, so x itself is not affected), `<` is `fixed`, `<=` is `last_affected`, and a
 * span of one version is an explicit affected version. The name is kept as written; npm names
 * are matched without regard to case (match/keys.ts), as the registry resolves them.
 */
export function* nodejsWgToItems(json: unknown, file: string): Generator<FeedItem> {
  if (!isObj(json) || typeof json.module_name !== 'string' || typeof json.vulnerable_versions !== 'string' || json.id === undefined) {
    yield recordError('ERR_FEED_INVALID', file, 'not a security-wg npm advisory (id, module_name, vulnerable_versions)')
    return
  }
  const id = `NSWG-ECO-${String(json.id)}`
  let vulnerable: Span[]
  let patched: Span[]
  try {
    vulnerable = spansOf(new semver.Range(json.vulnerable_versions || '*'))
  } catch {
    yield recordError('ERR_FEED_INVALID', file, `bad vulnerable_versions ${JSON.stringify(json.vulnerable_versions)}`, id)
    return
  }
  try {
    patched = typeof json.patched_versions === 'string' && json.patched_versions.trim() !== '' ? spansOf(new semver.Range(json.patched_versions)) : []
  } catch {
    yield recordError('ERR_FEED_INVALID', file, `bad patched_versions ${JSON.stringify(json.patched_versions)}`, id)
    return
  }
  const entry: AffectedEntry = { ecosystem: 'npm', name: json.module_name, ranges: [], versions: [] }
  for (const span of minus(vulnerable, patched)) {
    const { lo, hi } = span
    if (lo && hi && lo.incl && hi.incl && semver.eq(lo.v, hi.v)) {
      entry.versions.push(lo.v)
      continue
    }
    const events: RangeEvent[] = [{ introduced: !lo ? '0' : lo.incl ? lo.v : successor(lo.v) }]
    if (hi) events.push(hi.incl ? { last_affected: hi.v } : { fixed: hi.v })
    entry.ranges.push({ type: 'SEMVER', events })
  }
  const cves = Array.isArray(json.cves) ? json.cves.filter((c): c is string => typeof c === 'string') : []
  const record: AdvisoryRecord = { key: id, id, aliases: cves, cvss: [], affected: [entry], source: 'nodejs-wg' }
  if (typeof json.cvss_vector === 'string') {
    const s = cvssFromFeed(json.cvss_vector, json.cvss_score)
    if (s) record.cvss.push(s)
  }
  const vendor = parseSeverityWord(typeof json.severity === 'string' ? json.severity : undefined)
  if (vendor) record.vendorSeverity = vendor
  if (typeof json.title === 'string') record.summary = json.title
  if (typeof json.overview === 'string') record.details = json.overview
  if (typeof json.updated_at === 'string') record.modified = json.updated_at
  if (Array.isArray(json.references)) record.references = json.references.filter((r): r is string => typeof r === 'string')
  yield { kind: 'record', record }
}

/** One end of a span of versions; an absent end is unbounded. */
interface Bound {
  v: string
  incl: boolean
}
interface Span {
  lo?: Bound
  hi?: Bound
}

/**
 * A node-semver range → its spans (one per `||` alternative). node-semver spells `<1.2` as
 * `<1.2.0-0` to keep 1.2.0's pre-releases out; here the bound is 1.2.0, so those pre-releases
 * count as before the fix, as OSV's SemVer order has them (docs/matching.md).
 */
function spansOf(range: semver.Range): Span[] {
  const out: Span[] = []
  for (const set of range.set) {
    let span: Span = {}
    for (const c of set) {
      if (c.value === '') continue // `*`
      const v = c.semver.version
      const part: Span =
        c.operator === '>=' ? { lo: { v, incl: true } }
        : c.operator === '>' ? { lo: { v, incl: false } }
        : c.operator === '<' ? { hi: { v: withoutZeroPrerelease(c.semver), incl: false } }
        : c.operator === '<=' ? { hi: { v, incl: true } }
        : { lo: { v, incl: true }, hi: { v, incl: true } }
      span = intersect(span, part)
    }
    if (!isEmpty(span)) out.push(span)
  }
  return out
}

function withoutZeroPrerelease(v: semver.SemVer): string {
  return v.prerelease.length === 1 && v.prerelease[0] === 0 ? `${v.major}.${v.minor}.${v.patch}` : v.version
}

/** The tighter of two lower bounds (a ≥ b), and of two upper bounds. */
function maxLo(a: Bound | undefined, b: Bound | undefined): Bound | undefined {
  if (!a || !b) return a ?? b
  const c = semver.compare(a.v, b.v)
  return c > 0 ? a : c < 0 ? b : a.incl ? b : a
}
function minHi(a: Bound | undefined, b: Bound | undefined): Bound | undefined {
  if (!a || !b) return a ?? b
  const c = semver.compare(a.v, b.v)
  return c < 0 ? a : c > 0 ? b : a.incl ? b : a
}

function intersect(a: Span, b: Span): Span {
  const lo = maxLo(a.lo, b.lo)
  const hi = minHi(a.hi, b.hi)
  return { ...(lo ? { lo } : {}), ...(hi ? { hi } : {}) }
}

function isEmpty({ lo, hi }: Span): boolean {
  if (!lo || !hi) return false
  const c = semver.compare(lo.v, hi.v)
  return c > 0 || (c === 0 && !(lo.incl && hi.incl))
}

/** The versions in `a` and in no span of `b`: each span of b takes away what lies on either side of it. */
function minus(a: Span[], b: Span[]): Span[] {
  let left = a
  for (const p of b) {
    const outside: Span[] = []
    if (p.lo) outside.push({ hi: { v: p.lo.v, incl: !p.lo.incl } })
    if (p.hi) outside.push({ lo: { v: p.hi.v, incl: !p.hi.incl } })
    left = left.flatMap((s) => outside.map((o) => intersect(s, o))).filter((s) => !isEmpty(s))
  }
  return left
}

/** The least SemVer version above v: `2.0.0` → `2.0.1-0`, `1.0.0-rc.1` → `1.0.0-rc.1.0`. */
function successor(v: string): string {
  const s = semver.parse(v)!
  return s.prerelease.length > 0 ? `${s.version}.0` : `${s.major}.${s.minor}.${s.patch + 1}-0`
}
