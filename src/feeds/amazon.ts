import type { AdvisoryRecord } from '../match/model.js'
import { parseSeverityWord } from '../match/severity.js'
import { recordError, type FeedItem } from './types.js'

type Json = Record<string, unknown>
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

/** ALAS id prefix → Amazon Linux release: `ALAS-` is Amazon Linux 1 (the AMI), `ALAS2-` 2, `ALAS2023-` 2023. */
const RELEASE_OF_PREFIX = /^ALAS(\d*)-/

/**
 * Amazon Linux Security Advisories, as vuln-list writes each one from the release's
 * `updateinfo.xml` (`{id, severity, updated: {date}, packages: [{name, epoch, version, release,
 * arch}], cveids}`). Amazon publishes only fixes, so every record is `fixed`. One record per
 * (release, package, CVE), id the CVE with the ALAS as alias, as Trivy keys them; when two
 * advisories fix one CVE in one package, the later `updated` wins (importFeeds' copy rule).
 * Packages are binary names at their build's EVR; a binary whose name is its source rpm's
 * (`git`, `openssl`, `kernel`) is what source-name matching meets.
 */
export function* alasToItems(json: unknown, file: string): Generator<FeedItem> {
  if (!isObj(json) || typeof json.id !== 'string' || !Array.isArray(json.packages)) {
    yield recordError('ERR_FEED_INVALID', file, 'not an ALAS advisory (id, packages)')
    return
  }
  const alas = json.id
  const m = RELEASE_OF_PREFIX.exec(alas)
  if (!m) {
    yield recordError('ERR_FEED_INVALID', file, `unrecognised ALAS id ${JSON.stringify(alas)}`, alas)
    return
  }
  const ecosystem = `Amazon Linux:${m[1] || '1'}`
  const cves = Array.isArray(json.cveids) ? json.cveids.filter((c): c is string => typeof c === 'string') : []
  const updated = isObj(json.updated) && typeof json.updated.date === 'string' ? rfc3339(json.updated.date) : undefined
  const severity = parseSeverityWord(typeof json.severity === 'string' ? json.severity : undefined)
  // One fixed EVR per package name: the arch builds of one advisory share it.
  const fixed = new Map<string, string>()
  for (const p of json.packages) {
    if (!isObj(p) || typeof p.name !== 'string' || typeof p.version !== 'string' || typeof p.release !== 'string') {
      yield recordError('ERR_FEED_INVALID', file, 'a package entry has no name, version or release', alas)
      continue
    }
    const epoch = typeof p.epoch === 'string' && p.epoch !== '' && p.epoch !== '0' ? `${p.epoch}:` : ''
    if (!fixed.has(p.name)) fixed.set(p.name, `${epoch}${p.version}-${p.release}`)
  }
  for (const cve of cves.length ? cves : [alas]) {
    for (const [name, version] of fixed) {
      const record: AdvisoryRecord = {
        key: `${ecosystem}/${name}/${cve}`,
        id: cve,
        aliases: cve === alas ? [] : [alas],
        cvss: [],
        affected: [{ ecosystem, name, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: version }] }], versions: [] }],
        references: [`https://alas.aws.amazon.com/${m[1] ? `AL${m[1]}/` : ''}${alas}.html`],
        source: 'amazon-alas',
      }
      if (updated) record.modified = updated
      if (severity) record.vendorSeverity = severity
      yield { kind: 'record', record }
    }
  }
}

/** `2021-08-13 17:31` (UTC, as ALAS writes it) → `2021-08-13T17:31:00Z`. */
function rfc3339(date: string): string | undefined {
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2})(?::(\d{2}))?/.exec(date)
  return m ? `${m[1]}T${m[2]}:${m[3] ?? '00'}Z` : undefined
}
