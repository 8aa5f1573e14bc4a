import type { AdvisoryRecord } from '../match/model.js'
import { parseSeverityWord } from '../match/severity.js'
import { recordError, type FeedItem } from './types.js'

type Json = Record<string, unknown>
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * SUSE and openSUSE CVRF advisories (`ftp.suse.com/pub/projects/security/cvrf/`), as vuln-list
 * converts each XML file to JSON: `{Tracking: {ID, CurrentReleaseDate}, Vulnerabilities: [{CVE,
 * Threats, ProductStatuses: [{Type, ProductID: ["<product>:<name>-<version>-<release>"]}]}]}`.
 * SUSE advisories only announce fixes, so `Fixed` is the one status read. One record per
 * (product ecosystem, package, CVE), id the CVE with the advisory as alias; a later advisory for
 * the same triple wins by its release date. Product → ecosystem, in OSV's spelling:
 * `SUSE Linux Enterprise Server 15 SP1` → `SUSE:Linux Enterprise Server 15 SP1`,
 * `openSUSE Leap 15.1` → `openSUSE:Leap 15.1`, `openSUSE Tumbleweed` → `openSUSE:Tumbleweed`.
 * Which SLE products an image's release meets is decided at lookup (normalizeEcosystem).
 */
export function* suseCvrfToItems(json: unknown, file: string): Generator<FeedItem> {
  if (!isObj(json) || !isObj(json.Tracking) || typeof json.Tracking.ID !== 'string' || !Array.isArray(json.Vulnerabilities)) {
    yield recordError('ERR_FEED_INVALID', file, 'not a SUSE CVRF advisory (Tracking.ID, Vulnerabilities)')
    return
  }
  const advisory = json.Tracking.ID
  const modified = typeof json.Tracking.CurrentReleaseDate === 'string' ? json.Tracking.CurrentReleaseDate : undefined
  for (const v of json.Vulnerabilities) {
    if (!isObj(v) || typeof v.CVE !== 'string' || !Array.isArray(v.ProductStatuses)) {
      yield recordError('ERR_FEED_INVALID', file, 'a vulnerability has no CVE or ProductStatuses', advisory)
      continue
    }
    const threat = Array.isArray(v.Threats) ? v.Threats.find((t) => isObj(t) && t.Type === 'Impact') : undefined
    const severity = isObj(threat) && typeof threat.Severity === 'string' ? parseSeverityWord(threat.Severity) : undefined
    const seen = new Set<string>()
    for (const status of v.ProductStatuses) {
      if (!isObj(status) || status.Type !== 'Fixed' || !Array.isArray(status.ProductID)) continue
      for (const productId of status.ProductID) {
        const parsed = typeof productId === 'string' ? splitProductId(productId) : undefined
        if (!parsed) {
          yield recordError('ERR_FEED_INVALID', file, `product id ${JSON.stringify(productId)} is not <product>:<name>-<version>-<release>`, v.CVE)
          continue
        }
        const key = `${parsed.ecosystem}/${parsed.name}/${v.CVE}`
        if (seen.has(key)) continue
        seen.add(key)
        const record: AdvisoryRecord = {
          key, id: v.CVE, aliases: [advisory], cvss: [], source: 'suse-cvrf',
          affected: [{ ecosystem: parsed.ecosystem, name: parsed.name, versions: [], ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: parsed.version }] }] }],
        }
        if (modified) record.modified = modified
        if (severity) record.vendorSeverity = severity
        yield { kind: 'record', record }
      }
    }
  }
}

/** `openSUSE Leap 15.1:strongswan-doc-5.6.0-lp151.4.3.1` → ecosystem, name, `version-release`. */
function splitProductId(id: string): { ecosystem: string; name: string; version: string } | undefined {
  const colon = id.lastIndexOf(':')
  if (colon <= 0) return undefined
  const product = id.slice(0, colon)
  const nvr = id.slice(colon + 1)
  const rel = nvr.lastIndexOf('-')
  const ver = rel > 0 ? nvr.lastIndexOf('-', rel - 1) : -1
  if (ver <= 0) return undefined
  return { ecosystem: productEcosystem(product), name: nvr.slice(0, ver), version: nvr.slice(ver + 1) }
}

function productEcosystem(product: string): string {
  if (product.startsWith('openSUSE ')) return `openSUSE:${product.slice('openSUSE '.length)}`
  if (product.startsWith('SUSE ')) return `SUSE:${product.slice('SUSE '.length)}`
  return product
}
