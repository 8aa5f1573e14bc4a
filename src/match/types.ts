/** Findings: what matching produces and the store, the daemon and every report read. */

export type Severity = 'CRITICAL' | 'HIGH' | 'MEDIUM' | 'LOW' | 'NEGLIGIBLE' | 'UNKNOWN'
export const SEVERITIES: readonly Severity[] = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'NEGLIGIBLE', 'UNKNOWN']

/** `fixed`: a fixed version exists; `affected`: no fix yet; `wont-fix`: the vendor will not fix. */
export type FixState = 'fixed' | 'affected' | 'wont-fix'

export interface CvssScore {
  version: '2.0' | '3.0' | '3.1' | '4.0'
  vector: string
  score: number
  source?: string
  /** The feed's own score, kept because its vector does not validate (the vector is as published). */
  feedScore?: true
}

export interface Finding {
  /** Advisory id (CVE-…, GHSA-…, DSA-…, ALPINE-…, GO-…, PYSEC-…). */
  id: string
  aliases: string[]
  /** Key of the package inside its inventory: `${ecosystem}|${name}|${version}|${path}`. */
  pkgKey: string
  ecosystem: string
  name: string
  installed: string
  fixedVersions: string[]
  state: FixState
  severity: Severity
  /**
   * Where the severity came from: `vendor` (the feed's own rating), `cvss` (computed from the
   * vector) or `cvss-score` (the feed's CVSS score, its vector being malformed).
   */
  severitySource: 'vendor' | 'cvss' | 'cvss-score' | 'none'
  cvss: CvssScore[]
  epss?: number
  kev?: boolean
  /** 0–100, see docs/risk.md. */
  risk: number
  title?: string
  description?: string
  references?: string[]
  purl: string
  layer?: string
  path?: string
  /** The advisory record's `modified` time, so a delta can tell changed from unchanged. */
  modified?: string
}

export function packageKey(p: { ecosystem: string; name: string; version: string; path: string }): string {
  return `${p.ecosystem}|${p.name}|${p.version}|${p.path}`
}
