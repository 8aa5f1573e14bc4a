import type { AdvisoryRecord } from '../match/model.js'
import { parseSeverityWord } from '../match/severity.js'
import { getScheme } from '../versions/index.js'
import { recordError, type FeedItem } from './types.js'

type Json = Record<string, unknown>
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

const RELEASE = /^Oracle Linux (\d+) is installed$/
const ARCH = /^Oracle Linux arch is (\S+)$/
const EARLIER = /^(\S+) is earlier than (\S+)$/

/**
 * Oracle Linux OVAL (`linux.oracle.com/security/oval/`), one ELSA per file as vuln-list converts
 * it: `{Title: "ELSA-…: …", Severity, Cves: [{ID}], Criteria}` where the criteria tree says, in
 * its comments, `Oracle Linux 8 is installed`, `Oracle Linux arch is x86_64` and `<pkg> is
 * earlier than <EVR>`. One record per (release, package, ELSA), id the ELSA with its CVEs as
 * aliases (as Grype reports Oracle), fixed at the EVR. Oracle lists fixes only.
 *
 * Not modelled: per-architecture fixes (records carry no arch; where arches disagree the highest
 * EVR is kept, so an arch patched earlier may be over-reported) and the Ksplice/FIPS flavours
 * (`…ksplice1…`, `…_fips`), whose fixes apply only to packages of that flavour and are skipped.
 */
export function* oracleOvalToItems(json: unknown, file: string): Generator<FeedItem> {
  const elsa = isObj(json) && typeof json.Title === 'string' ? /^(ELSA-\d{4}-\d+)/.exec(json.Title)?.[1] : undefined
  if (!isObj(json) || !elsa || !isObj(json.Criteria)) {
    yield recordError('ERR_FEED_INVALID', file, 'not an Oracle OVAL definition (Title ELSA-…, Criteria)')
    return
  }
  const cves = Array.isArray(json.Cves) ? json.Cves.flatMap((c) => (isObj(c) && typeof c.ID === 'string' ? [c.ID] : [])) : []
  const severity = parseSeverityWord(typeof json.Severity === 'string' ? json.Severity : undefined)
  // `release\0package` → the fixed EVRs found under it (one per architecture, usually equal).
  const fixes = new Map<string, string[]>()
  let flavoured = 0
  const walk = (node: Json, release: string | undefined) => {
    const comments = (Array.isArray(node.Criterions) ? node.Criterions : []).flatMap((c) => (isObj(c) && typeof c.Comment === 'string' ? [c.Comment.trim()] : []))
    for (const c of comments) release = RELEASE.exec(c)?.[1] ?? release
    for (const c of comments) {
      const m = EARLIER.exec(c)
      if (!m || !release || ARCH.test(c)) continue
      if (/ksplice|_fips/.test(m[2]!)) {
        flavoured++
        continue
      }
      const key = `${release}\0${m[1]}`
      fixes.set(key, [...(fixes.get(key) ?? []), m[2]!.replace(/^0:/, '')])
    }
    for (const child of Array.isArray(node.Criterias) ? node.Criterias : []) if (isObj(child)) walk(child, release)
  }
  walk(json.Criteria, undefined)
  if (fixes.size === 0 && flavoured === 0) {
    yield recordError('ERR_FEED_INVALID', file, 'no `<package> is earlier than <EVR>` criterion under an `Oracle Linux N is installed` one', elsa)
    return
  }
  for (const [key, evrs] of fixes) {
    const [release, name] = key.split('\0') as [string, string]
    const ecosystem = `Oracle Linux:${release}`
    const fixed = evrs.reduce((a, b) => (higherEvr(a, b) ? a : b))
    const record: AdvisoryRecord = {
      key: `${ecosystem}/${name}/${elsa}`, id: elsa, aliases: cves, cvss: [], source: 'oracle-oval',
      references: [`https://linux.oracle.com/errata/${elsa}.html`],
      affected: [{ ecosystem, name, versions: [], ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed }] }] }],
    }
    if (severity) record.vendorSeverity = severity
    yield { kind: 'record', record }
  }
}

/** Whether `a` sorts at or above `b` as an rpm EVR; an unparsable `b` never wins. */
function higherEvr(a: string, b: string): boolean {
  try {
    return getScheme('rpm').compare(a, b) >= 0
  } catch {
    return true
  }
}
