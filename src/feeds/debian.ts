import type { AdvisoryRecord, AffectedEntry } from '../match/model.js'
import { parseSeverityWord } from '../match/severity.js'
import { recordError, type FeedItem } from './types.js'

type Json = Record<string, unknown>
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Debian codenames → the release number OSV ecosystems use. `sid` has none and is skipped. */
export const DEBIAN_RELEASES: Record<string, string> = {
  squeeze: '6', wheezy: '7', jessie: '8', stretch: '9', buster: '10', bullseye: '11', bookworm: '12', trixie: '13', forky: '14', duke: '15',
}

export function looksLikeDebianTracker(json: unknown): boolean {
  if (!isObj(json)) return false
  for (const [, cves] of Object.entries(json).slice(0, 3)) {
    if (!isObj(cves)) return false
    const first = Object.values(cves)[0]
    if (!isObj(first) || !isObj(first.releases)) return false
  }
  return Object.keys(json).length > 0
}

/**
 * security-tracker.debian.org/tracker/data/json → one record per (release, source package, CVE),
 * keyed `Debian:N/<source>/<CVE>`:
 *   resolved + fixed_version V  → introduced 0, fixed V
 *   resolved + fixed_version 0  → not affected: a withdrawn record (undoes an earlier import)
 *   open / undetermined         → unfixed (`state: affected`); `nodsa_reason: ignored` → `wont-fix`
 * `urgency` is the vendor severity (`not yet assigned` and `end-of-life` give none).
 */
export function* debianTrackerToItems(json: unknown, file: string): Generator<FeedItem> {
  if (!isObj(json)) {
    yield recordError('ERR_FEED_INVALID', file, 'not a Debian security-tracker document')
    return
  }
  for (const [source, cves] of Object.entries(json)) {
    if (!isObj(cves)) {
      yield recordError('ERR_FEED_INVALID', file, `package ${source}: not an object`)
      continue
    }
    for (const [cve, info] of Object.entries(cves)) {
      // The tracker writes `releases: []` for CVEs no release tracks.
      if (isObj(info) && Array.isArray(info.releases) && info.releases.length === 0) continue
      if (!isObj(info) || !isObj(info.releases)) {
        yield recordError('ERR_FEED_INVALID', file, `${source}: no releases`, cve)
        continue
      }
      for (const [codename, rel] of Object.entries(info.releases)) {
        const number = DEBIAN_RELEASES[codename]
        if (!number || !isObj(rel)) continue
        const ecosystem = `Debian:${number}`
        const record: AdvisoryRecord = { key: `${ecosystem}/${source}/${cve}`, id: cve, aliases: [], cvss: [], affected: [], source: 'debian-tracker' }
        if (typeof info.description === 'string') record.details = info.description
        const entry: AffectedEntry = { ecosystem, name: source, ranges: [], versions: [] }
        const urgency = parseSeverityWord(typeof rel.urgency === 'string' ? rel.urgency : undefined)
        if (urgency) entry.vendorSeverity = urgency
        const fixed = typeof rel.fixed_version === 'string' ? rel.fixed_version : undefined
        if (rel.status === 'not-affected') {
          record.withdrawn = 'not affected'
        } else if (rel.status === 'resolved') {
          if (!fixed || fixed === '0') {
            record.withdrawn = 'not affected'
          } else {
            entry.ranges.push({ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed }] })
          }
        } else if (rel.status === 'open' || rel.status === 'undetermined') {
          entry.ranges.push({ type: 'ECOSYSTEM', events: [{ introduced: '0' }] })
          entry.state = rel.nodsa_reason === 'ignored' ? 'wont-fix' : 'affected'
        } else {
          yield recordError('ERR_FEED_INVALID', file, `${source} ${codename}: unknown status ${JSON.stringify(rel.status)}`, cve)
          continue
        }
        record.affected.push(entry)
        yield { kind: 'record', record }
      }
    }
  }
}
