import type { AdvisoryRecord, AffectedEntry, AffectedRange, RangeEvent } from '../match/model.js'
import { cvssBaseScore, parseSeverityWord } from '../match/severity.js'
import type { CvssScore } from '../match/types.js'
import { recordError, type FeedItem } from './types.js'

type Json = Record<string, unknown>

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [])

/**
 * One OSV JSON object (schema 1.x) → the advisory model. Yields the record, plus an
 * ERR_FEED_RANGE_UNSUPPORTED note for each range of an unknown type (that range is dropped,
 * the rest of the record is kept). GIT ranges are ignored: they name commits, not versions.
 * `withdrawn` takes effect once its time has come (`now`, the import's clock): a record
 * withdrawn in the future still applies, and the first import after that time removes it.
 */
export function* osvToItems(json: unknown, file: string, now: number = Date.now()): Generator<FeedItem> {
  if (!isObj(json) || typeof json.id !== 'string' || json.id === '') {
    yield recordError('ERR_FEED_INVALID', file, 'not an OSV record: no string "id"')
    return
  }
  const id = json.id
  if (json.affected !== undefined && !Array.isArray(json.affected)) {
    yield recordError('ERR_FEED_INVALID', file, '"affected" is not an array', id)
    return
  }
  const affected: AffectedEntry[] = []
  for (const a of (json.affected as unknown[] | undefined) ?? []) {
    if (!isObj(a)) continue
    const pkg = a.package
    if (!isObj(pkg) || typeof pkg.ecosystem !== 'string' || typeof pkg.name !== 'string') continue
    const ranges: AffectedRange[] = []
    for (const r of Array.isArray(a.ranges) ? a.ranges : []) {
      if (!isObj(r)) continue
      if (r.type === 'GIT') continue
      if (r.type !== 'ECOSYSTEM' && r.type !== 'SEMVER') {
        yield recordError('ERR_FEED_RANGE_UNSUPPORTED', file, `range type ${JSON.stringify(r.type)} is not supported; range ignored`, id)
        continue
      }
      const events = parseEvents(r.events)
      if (!events) {
        yield recordError('ERR_FEED_INVALID', file, 'a range has malformed events (each must have one string field)', id)
        return
      }
      ranges.push({ type: r.type, events })
    }
    const entry: AffectedEntry = { ecosystem: pkg.ecosystem, name: pkg.name, ranges, versions: strings(a.versions) }
    const vendor = parseSeverityWord(severityWord(a.ecosystem_specific) ?? severityWord(a.database_specific))
    if (vendor) entry.vendorSeverity = vendor
    affected.push(entry)
  }
  const record: AdvisoryRecord = { key: id, id, aliases: strings(json.aliases).filter((a) => a !== id), cvss: cvssOf(json.severity), affected, source: 'osv' }
  // A `modified` that is not a timestamp (placeholder text seen in real snapshots) is left out:
  // it would otherwise sort above every real date in `db status` and in delta ordering.
  if (typeof json.modified === 'string' && !Number.isNaN(Date.parse(json.modified))) record.modified = json.modified
  if (typeof json.published === 'string') record.published = json.published
  if (typeof json.withdrawn === 'string' && withdrawnBy(json.withdrawn, now)) record.withdrawn = json.withdrawn
  if (typeof json.summary === 'string') record.summary = json.summary
  if (typeof json.details === 'string') record.details = json.details
  const refs = Array.isArray(json.references) ? json.references.flatMap((r) => (isObj(r) && typeof r.url === 'string' ? [r.url] : [])) : []
  if (refs.length) record.references = refs
  const vendor = parseSeverityWord(severityWord(json.database_specific))
  if (vendor) record.vendorSeverity = vendor
  yield { kind: 'record', record }
}

/** A time that does not parse still withdraws: the feed said so, and only the date is unclear. */
function withdrawnBy(time: string, now: number): boolean {
  const at = Date.parse(time)
  return Number.isNaN(at) || at <= now
}

function parseEvents(v: unknown): RangeEvent[] | undefined {
  if (!Array.isArray(v)) return undefined
  const out: RangeEvent[] = []
  for (const e of v) {
    if (!isObj(e)) return undefined
    const keys = Object.keys(e).filter((k) => k === 'introduced' || k === 'fixed' || k === 'last_affected' || k === 'limit')
    if (keys.length !== 1) return undefined
    const k = keys[0] as keyof RangeEvent
    if (typeof e[k] !== 'string') return undefined
    out.push({ [k]: e[k] } as RangeEvent)
  }
  return out
}

/** GHSA writes `database_specific.severity`, Debian/Ubuntu OSV `ecosystem_specific.urgency`/`severity`. */
function severityWord(v: unknown): string | undefined {
  if (!isObj(v)) return undefined
  for (const k of ['severity', 'urgency']) if (typeof v[k] === 'string') return v[k]
  return undefined
}

function cvssOf(v: unknown): CvssScore[] {
  if (!Array.isArray(v)) return []
  const out: CvssScore[] = []
  for (const s of v) {
    if (!isObj(s) || typeof s.score !== 'string') continue
    const score = cvssBaseScore(s.score)
    if (score) out.push(score)
  }
  return out
}
