import type { Finding, Severity } from '../match/types.js'
import { preferredCvss } from '../match/severity.js'
import { advisoryUrl, compareFindings } from './severity.js'
import { TOOL } from './tool.js'
import type { ScanReport } from './types.js'

/**
 * SARIF 2.1.0 (OASIS): one rule per advisory id, one result per (advisory, package), located at
 * the file the package was found in. `security-severity` is the number GitHub code scanning
 * sorts by: the preferred CVSS score, else a midpoint of the severity band.
 */
export const SARIF_SCHEMA = 'https://json.schemastore.org/sarif-2.1.0.json'

const LEVEL: Record<Severity, 'error' | 'warning' | 'note'> = {
  CRITICAL: 'error',
  HIGH: 'error',
  MEDIUM: 'warning',
  LOW: 'note',
  NEGLIGIBLE: 'note',
  UNKNOWN: 'note',
}
const BAND_SCORE: Record<Severity, number> = { CRITICAL: 9.5, HIGH: 8, MEDIUM: 5.5, LOW: 2, NEGLIGIBLE: 0.5, UNKNOWN: 0 }

function securitySeverity(f: Finding): string {
  return (preferredCvss(f.cvss)?.score ?? BAND_SCORE[f.severity]).toFixed(1)
}

export function toSarif(report: ScanReport): Record<string, unknown> {
  const findings = [...report.findings].sort(compareFindings)
  const ruleIndex = new Map<string, number>()
  const rules: Record<string, unknown>[] = []
  for (const f of findings) {
    if (ruleIndex.has(f.id)) continue
    ruleIndex.set(f.id, rules.length)
    const summary = f.title ?? `${f.id} in ${f.name}`
    rules.push({
      id: f.id,
      name: 'OsPackageVulnerability',
      shortDescription: { text: summary },
      fullDescription: { text: f.description ?? summary },
      helpUri: advisoryUrl(f.id),
      help: { text: `${f.id} (${f.severity})${f.aliases.length ? `, also ${f.aliases.join(', ')}` : ''}: ${f.description ?? summary}` },
      defaultConfiguration: { level: LEVEL[f.severity] },
      properties: { tags: ['vulnerability', 'security', f.severity], precision: 'very-high', 'security-severity': securitySeverity(f) },
    })
  }
  const fallbackUri = report.inventory.image.reference
  const results = findings.map((f) => {
    const uri = encodeURI(f.path || fallbackUri)
    const fixed = f.fixedVersions.length ? f.fixedVersions.join(', ') : f.state === 'wont-fix' ? "won't fix" : 'no fix yet'
    return {
      ruleId: f.id,
      ruleIndex: ruleIndex.get(f.id),
      level: LEVEL[f.severity],
      message: { text: `Package: ${f.name}\nInstalled: ${f.installed}\nFixed: ${fixed}\nSeverity: ${f.severity}\nRisk: ${f.risk}\nPurl: ${f.purl}` },
      locations: [{
        physicalLocation: { artifactLocation: { uri }, region: { startLine: 1, startColumn: 1, endLine: 1, endColumn: 1 } },
        message: { text: `${report.inventory.image.reference}: ${f.path || f.purl}` },
      }],
      properties: { purl: f.purl, risk: f.risk, state: f.state, ...(f.layer ? { layer: f.layer } : {}), ...(f.epss !== undefined ? { epss: f.epss } : {}), ...(f.kev ? { kev: true } : {}) },
    }
  })
  return {
    $schema: SARIF_SCHEMA,
    version: '2.1.0',
    runs: [{
      tool: { driver: { name: TOOL.name, fullName: `${TOOL.name} vulnerability scanner`, version: TOOL.version, informationUri: TOOL.informationUri, rules } },
      results,
      columnKind: 'utf16CodeUnits',
      originalUriBaseIds: { ROOTPATH: { uri: 'file:///' } },
      properties: { image: report.inventory.image.reference, digest: report.inventory.image.digest },
    }],
  }
}
