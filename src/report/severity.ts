import { SEVERITIES, type CvssScore, type Finding, type Severity } from '../match/types.js'

/** CRITICAL = 5 … UNKNOWN = 0; a higher rank is worse. */
export function severityRank(s: Severity): number {
  return SEVERITIES.length - 1 - SEVERITIES.indexOf(s)
}

export function parseSeverity(value: string): Severity | undefined {
  const upper = value.trim().toUpperCase()
  return (SEVERITIES as readonly string[]).includes(upper) ? (upper as Severity) : undefined
}

/** Worst first, then highest risk, then id and package, so output is stable run to run. */
export function compareFindings(a: Finding, b: Finding): number {
  return severityRank(b.severity) - severityRank(a.severity) || b.risk - a.risk || a.id.localeCompare(b.id) || a.pkgKey.localeCompare(b.pkgKey)
}

/** The first score among `versions`, in that order (Harbor's report wants v3 and v2 apart). */
export function firstCvssOf(scores: readonly CvssScore[], versions: readonly CvssScore['version'][]): CvssScore | undefined {
  for (const v of versions) {
    const hit = scores.find((s) => s.version === v)
    if (hit) return hit
  }
  return undefined
}

export function countBySeverity(findings: readonly Finding[]): Record<Severity, number> {
  const out = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>
  for (const f of findings) out[f.severity]++
  return out
}

/** Where a person reads more about an advisory, by id prefix. */
export function advisoryUrl(id: string): string {
  if (/^CVE-\d{4}-\d+$/.test(id)) return `https://nvd.nist.gov/vuln/detail/${id}`
  if (id.startsWith('GHSA-')) return `https://github.com/advisories/${id}`
  if (id.startsWith('GO-')) return `https://pkg.go.dev/vuln/${id}`
  if (/^D[SL]A-/.test(id)) return `https://security-tracker.debian.org/tracker/${id}`
  return `https://osv.dev/vulnerability/${encodeURIComponent(id)}`
}

/** The database an id belongs to, for CycloneDX `source.name`. */
export function advisorySourceName(id: string): string {
  if (id.startsWith('CVE-')) return 'NVD'
  if (id.startsWith('GHSA-')) return 'GitHub'
  if (id.startsWith('GO-')) return 'Go'
  if (/^D[SL]A-/.test(id)) return 'Debian'
  return 'OSV'
}
