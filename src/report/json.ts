import { compareFindings, countBySeverity } from './severity.js'
import { TOOL } from './tool.js'
import type { ScanReport } from './types.js'

/** Vigil's own JSON report: everything a script needs, every Finding field as matching made it. */
export function toJsonReport(report: ScanReport): Record<string, unknown> {
  const { inventory } = report
  const findings = [...report.findings].sort(compareFindings)
  return {
    v: 1,
    generatedAt: report.generatedAt,
    tool: { name: TOOL.name, version: TOOL.version },
    image: inventory.image,
    ...(inventory.os ? { os: inventory.os } : {}),
    packages: inventory.packages.length,
    summary: countBySeverity(findings),
    findings,
    suppressed: report.suppressed.map((s) => ({ id: s.finding.id, pkgKey: s.finding.pkgKey, purl: s.finding.purl, ...s.suppression })),
    // Only when the scan skipped something: the findings are then what could be read.
    ...(inventory.warnings?.length ? { complete: false, warnings: inventory.warnings } : {}),
  }
}
