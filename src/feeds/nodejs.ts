import semver from 'semver'
import type { AdvisoryRecord, AffectedEntry, RangeEvent } from '../match/model.js'
import { cvssFromFeed, parseSeverityWord } from '../match/severity.js'
import { recordError, type FeedItem } from './types.js'

type Json = Record<string, unknown>
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * nodejs/security-wg npm advisories (`module_name`, `vulnerable_versions` as a node-semver range)
 * → OSV-style SEMVER ranges: each `||` alternative becomes one range; `>=`/`>` open it, `<`
 * fixes it, `<=` is last_affected, a bare version is an explicit affected version. `>x` is
 * stored as `introduced x` (x itself is then counted affected — conservative, and rare).
 */
export function* nodejsWgToItems(json: unknown, file: string): Generator<FeedItem> {
  if (!isObj(json) || typeof json.module_name !== 'string' || typeof json.vulnerable_versions !== 'string' || json.id === undefined) {
    yield recordError('ERR_FEED_INVALID', file, 'not a security-wg npm advisory (id, module_name, vulnerable_versions)')
    return
  }
  const id = `NSWG-ECO-${String(json.id)}`
  let range: semver.Range
  try {
    range = new semver.Range(json.vulnerable_versions || '*')
  } catch {
    yield recordError('ERR_FEED_INVALID', file, `bad vulnerable_versions ${JSON.stringify(json.vulnerable_versions)}`, id)
    return
  }
  const entry: AffectedEntry = { ecosystem: 'npm', name: json.module_name, ranges: [], versions: [] }
  for (const set of range.set) {
    const events: RangeEvent[] = []
    let lower: string | undefined
    let upper: RangeEvent | undefined
    for (const c of set) {
      if (c.value === '') continue // `*`
      const v = c.semver.version
      if (c.operator === '>=' || c.operator === '>') lower = v
      else if (c.operator === '<') upper = { fixed: v }
      else if (c.operator === '<=') upper = { last_affected: v }
      else if (c.operator === '') entry.versions.push(v)
    }
    if (set.length === 1 && set[0]!.operator === '' && set[0]!.value !== '') continue
    events.push({ introduced: lower ?? '0' })
    if (upper) events.push(upper)
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
